"""Pins, silences and pauses in SQLite: one row each, written when it starts and again when it
ends, so the controls in force survive a restart and those over stay on record. Plain functions
of a connection; `monitor.store.Store` runs them on its thread.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from monitor.controls import Control, ControlKind
from monitor.sqlwhere import where

__all__ = ["CONTROLS_SCHEMA", "save_control", "select_controls"]

CONTROLS_SCHEMA = """
    CREATE TABLE controls (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        region TEXT,
        reason TEXT NOT NULL,
        by TEXT NOT NULL,
        started_at REAL NOT NULL,
        until REAL,
        ended_at REAL,
        ended_by TEXT,
        end_reason TEXT
    );
    CREATE INDEX controls_in_force ON controls (ended_at, kind);
    CREATE INDEX controls_by_kind ON controls (kind, seq)
"""

_COLUMNS = "id, kind, region, reason, by, started_at, until, ended_at, ended_by, end_reason"


def save_control(db: sqlite3.Connection, control: Control) -> None:
    """Store a control as it is now: a new one inserted, a known one's end recorded. An end
    already recorded is kept (the first word on how it ended stands)."""
    db.execute(
        f"INSERT INTO controls ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 (constant columns)
        " ON CONFLICT (id) DO UPDATE SET ended_at = excluded.ended_at,"
        " ended_by = excluded.ended_by, end_reason = excluded.end_reason"
        " WHERE controls.ended_at IS NULL",
        (
            control.id,
            control.kind.value,
            control.region,
            control.reason,
            control.by,
            control.since.timestamp(),
            _stamp(control.until),
            _stamp(control.ended_at),
            control.ended_by,
            control.end_reason,
        ),
    )


def select_controls(
    db: sqlite3.Connection,
    *,
    kind: ControlKind | None = None,
    in_force: bool = False,
    id: str | None = None,
    limit: int = 100,
) -> list[Control]:
    """Controls matching the filters, newest first; `in_force`: those not ended (some may have
    reached `until` while nothing applied evidence: the engine ends them when it next does)."""
    condition, args = where(
        ("kind = ?", kind.value if kind is not None else None),
        ("ended_at IS NULL", () if in_force else None),
        ("id = ?", id),
    )
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM controls{condition} ORDER BY seq DESC LIMIT ?",  # noqa: S608 (constant columns, bound values)
        [*args, limit],
    )
    return [_control(row) for row in rows]


def _control(row: tuple[Any, ...]) -> Control:
    id_, kind, region, reason, by, started, until, ended, ended_by, end_reason = row
    return Control(
        id=str(id_),
        kind=ControlKind(kind),
        region=region,
        reason=str(reason),
        by=str(by),
        since=_time(started),
        until=_time(until) if until is not None else None,
        ended_at=_time(ended) if ended is not None else None,
        ended_by=ended_by,
        end_reason=end_reason,
    )


def _stamp(at: datetime | None) -> float | None:
    return at.timestamp() if at is not None else None


def _time(timestamp: float) -> datetime:
    return datetime.fromtimestamp(float(timestamp), UTC)
