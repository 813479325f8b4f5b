"""Events in SQLite: written once by id, listed newest first, and the open conditions read
back at start. Plain functions of a connection; `monitor.store.Store` runs them on its thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.events import Condition, Event, EventType, Severity
from monitor.sqlwhere import where

__all__ = [
    "EVENTS_SCHEMA",
    "EventQuery",
    "StoredEvent",
    "insert_events",
    "open_conditions",
    "prune_events",
    "resolution_after",
    "select_events",
]

EVENTS_SCHEMA = """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        severity TEXT NOT NULL,
        region TEXT,
        at REAL NOT NULL,
        since REAL NOT NULL,
        problem TEXT NOT NULL,
        resolved INTEGER NOT NULL,
        summary TEXT NOT NULL,
        evidence TEXT NOT NULL,
        instance TEXT NOT NULL
    );
    CREATE INDEX events_by_time ON events (at);
    CREATE INDEX events_by_type ON events (type, seq);
    CREATE INDEX events_by_region ON events (region, seq);
    CREATE INDEX events_by_problem ON events (problem, seq)
"""

_COLUMNS = (
    "seq, id, type, severity, region, at, since, problem, resolved, summary, evidence, instance"
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: `seq` orders events by when they were stored (the paging cursor)."""

    seq: int
    event: Event


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters for listing events: all optional; `before` is a `seq` to page from."""

    type: EventType | None = None
    region: str | None = None
    since: datetime | None = None
    before: int | None = None
    limit: int = 100


def insert_events(db: sqlite3.Connection, events: Sequence[Event]) -> None:
    """Store each event once: one already stored (the same id) is left as it is."""
    db.executemany(
        f"INSERT OR IGNORE INTO events ({_COLUMNS.removeprefix('seq, ')})"  # noqa: S608 (constant columns)
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.id,
                e.type.value,
                e.severity.value,
                e.region,
                e.at.timestamp(),
                e.since.timestamp(),
                e.problem,
                int(e.resolved),
                e.summary,
                json.dumps(e.evidence),
                e.instance,
            )
            for e in events
        ],
    )


def select_events(db: sqlite3.Connection, query: EventQuery) -> list[StoredEvent]:
    """Events matching `query`, newest first."""
    since = query.since
    condition, args = where(
        ("type = ?", query.type.value if query.type is not None else None),
        ("region = ?", query.region),
        ("at >= ?", since.timestamp() if since is not None else None),
        ("seq < ?", query.before),
    )
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM events{condition} ORDER BY seq DESC LIMIT ?",  # noqa: S608 (constant columns, bound values)
        [*args, query.limit],
    )
    return [StoredEvent(row[0], _event(row)) for row in rows]


def open_conditions(db: sqlite3.Connection) -> dict[str, Condition]:
    """The conditions still open: for every problem, its last event when that did not close it."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM events WHERE seq IN (SELECT MAX(seq) FROM events GROUP BY problem)"  # noqa: S608 (constant columns)
        " AND resolved = 0 ORDER BY seq"
    )
    conditions = {}
    for row in rows:
        e = _event(row)
        conditions[e.problem] = Condition(
            e.problem, e.type, e.severity, e.region, e.since, e.summary, e.evidence
        )
    return conditions


def resolution_after(db: sqlite3.Connection, problem: str, event_id: str) -> Event | None:
    """The first resolution of `problem` stored after the event `event_id` (after any, when
    that event is no longer stored): what ended it, if it has ended."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM events WHERE problem = ? AND resolved = 1"  # noqa: S608 (constant columns)
        " AND seq > COALESCE((SELECT seq FROM events WHERE id = ?), 0) ORDER BY seq LIMIT 1",
        (problem, event_id),
    ).fetchone()
    return None if row is None else _event(row)


def prune_events(db: sqlite3.Connection, cutoff: float) -> int:
    """Delete events older than `cutoff`, except the last one of each problem: an open
    condition must still be found at the next start."""
    return db.execute(
        "DELETE FROM events WHERE at < ?"
        " AND seq NOT IN (SELECT MAX(seq) FROM events GROUP BY problem)",
        (cutoff,),
    ).rowcount


def _event(row: tuple[Any, ...]) -> Event:
    (_, id_, kind, severity, region, at, since, problem, resolved, summary, evidence, instance) = (
        row
    )
    return Event(
        id=str(id_),
        type=EventType(kind),
        severity=Severity(severity),
        region=region,
        at=datetime.fromtimestamp(float(at), UTC),
        since=datetime.fromtimestamp(float(since), UTC),
        summary=str(summary),
        evidence=json.loads(str(evidence)),
        instance=str(instance),
        problem=str(problem),
        resolved=bool(resolved),
    )
