"""The audit trail and deploy markers in SQLite: every decision of the failover policy with its
evidence and what became of it, written ahead of the action; and the deploys. Plain functions
of a connection; `monitor.store.Store` runs them on its thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.deploys import Deploy, DeploySource
from monitor.sqlwhere import where

__all__ = [
    "AUDIT_ACTORS",
    "AUDIT_SCHEMA",
    "ActionRecord",
    "finish_action",
    "insert_deploy",
    "insert_intent",
    "marker_posted",
    "note_attempt",
    "prune_audit",
    "select_actions",
    "select_deploys",
]

AUDIT_SCHEMA = """
    CREATE TABLE deploys (
        id TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        version TEXT NOT NULL,
        at REAL NOT NULL,
        source TEXT NOT NULL,
        note TEXT NOT NULL,
        by TEXT NOT NULL
    );
    CREATE INDEX deploys_by_region_time ON deploys (region, at);
    CREATE INDEX deploys_by_time ON deploys (at);
    CREATE TABLE actions (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        region TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        action TEXT NOT NULL,
        decided_at REAL NOT NULL,
        reason TEXT NOT NULL,
        evidence TEXT NOT NULL,
        mode TEXT NOT NULL,
        urgent INTEGER NOT NULL,
        status TEXT NOT NULL,
        guard TEXT,
        detail TEXT NOT NULL,
        uncovered TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        finished_at REAL,
        instance TEXT NOT NULL
    );
    CREATE INDEX actions_by_time ON actions (decided_at);
    CREATE INDEX actions_by_region ON actions (region, seq);
    CREATE INDEX actions_by_status ON actions (status)
"""

# Who decided each action (regionwatch, or the person who asked), whether it was forced past
# the guard rails, and where it came from (policy, manual, adopt). Rows from before say the
# policy's.
AUDIT_ACTORS = """
    ALTER TABLE actions ADD COLUMN by TEXT NOT NULL DEFAULT 'regionwatch';
    ALTER TABLE actions ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE actions ADD COLUMN source TEXT NOT NULL DEFAULT 'policy';
"""

_ACTION_COLUMNS = (
    "seq, id, region, endpoint, action, decided_at, reason, evidence, mode, urgent, status,"
    " guard, detail, uncovered, attempts, finished_at, instance, by, forced, source"
)


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One decision in the audit trail. `status` is `intended` until it is carried out
    (`done`, `dry_run`) or not (`refused` by `guard`, `failed`, `superseded`)."""

    seq: int
    id: str
    region: str
    endpoint: str
    action: str
    decided_at: datetime
    reason: str
    evidence: dict[str, Any]
    mode: str
    urgent: bool
    status: str
    guard: str | None
    detail: str
    uncovered: tuple[str, ...]
    attempts: int
    finished_at: datetime | None
    instance: str
    by: str = "regionwatch"
    forced: bool = False
    source: str = "policy"


def insert_intent(
    db: sqlite3.Connection,
    *,
    id: str,
    region: str,
    endpoint: str,
    action: str,
    decided_at: datetime,
    reason: str,
    evidence: dict[str, Any],
    mode: str,
    urgent: bool,
    instance: str,
    by: str = "regionwatch",
    forced: bool = False,
    source: str = "policy",
) -> bool:
    """Record a decision as intended; False when it is recorded already (the same id)."""
    cursor = db.execute(
        f"INSERT OR IGNORE INTO actions ({_ACTION_COLUMNS.removeprefix('seq, ')})"  # noqa: S608 (constant columns)
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'intended', NULL, '', '[]', 0, NULL, ?, ?, ?, ?)",
        (
            id,
            region,
            endpoint,
            action,
            decided_at.timestamp(),
            reason,
            json.dumps(evidence),
            mode,
            int(urgent),
            instance,
            by,
            int(forced),
            source,
        ),
    )
    return cursor.rowcount == 1


def note_attempt(db: sqlite3.Connection, id: str) -> None:
    db.execute("UPDATE actions SET attempts = attempts + 1 WHERE id = ?", (id,))


def finish_action(
    db: sqlite3.Connection,
    id: str,
    *,
    status: str,
    detail: str,
    finished_at: datetime,
    guard: str | None = None,
    uncovered: Sequence[str] = (),
) -> None:
    db.execute(
        "UPDATE actions SET status = ?, detail = ?, finished_at = ?, guard = ?, uncovered = ?"
        " WHERE id = ?",
        (status, detail, finished_at.timestamp(), guard, json.dumps(list(uncovered)), id),
    )


def select_actions(
    db: sqlite3.Connection,
    *,
    region: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    before: int | None = None,
    id: str | None = None,
    limit: int = 100,
) -> list[ActionRecord]:
    """Actions matching the filters, newest first."""
    condition, args = where(
        ("id = ?", id),
        ("region = ?", region),
        ("status = ?", status),
        ("decided_at >= ?", since.timestamp() if since is not None else None),
        ("seq < ?", before),
    )
    rows = db.execute(
        f"SELECT {_ACTION_COLUMNS} FROM actions{condition} ORDER BY seq DESC LIMIT ?",  # noqa: S608 (constant columns, bound values)
        [*args, limit],
    )
    return [_action(row) for row in rows]


def insert_deploy(db: sqlite3.Connection, deploy: Deploy) -> None:
    db.execute(
        "INSERT OR IGNORE INTO deploys (id, region, version, at, source, note, by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            deploy.id,
            deploy.region,
            deploy.version,
            deploy.at.timestamp(),
            deploy.source.value,
            deploy.note,
            deploy.by,
        ),
    )


def select_deploys(
    db: sqlite3.Connection,
    *,
    region: str | None = None,
    since: datetime | None = None,
    id: str | None = None,
    limit: int = 100,
) -> list[Deploy]:
    """Deploys, newest first."""
    condition, args = where(
        ("id = ?", id),
        ("region = ?", region),
        ("at >= ?", since.timestamp() if since is not None else None),
    )
    rows = db.execute(
        "SELECT id, region, version, at, source, note, by FROM deploys"  # noqa: S608 (bound values)
        f"{condition} ORDER BY at DESC LIMIT ?",
        [*args, limit],
    )
    return [
        Deploy(str(i), str(r), str(v), _time(at), DeploySource(str(s)), str(n), str(b))
        for i, r, v, at, s, n, b in rows
    ]


def prune_audit(db: sqlite3.Connection, cutoff: float) -> int:
    """Delete the finished actions decided before `cutoff`, and the deploys before it;
    returns the number of actions deleted. An action still `intended` stays, whatever its
    age: the next start reconciles it; so does each region's last action carried out (`done`,
    and `dry_run`), whatever its age: a restart rebuilds from it who holds the endpoint
    (docs/failover.md)."""
    db.execute("DELETE FROM deploys WHERE at < ?", (cutoff,))
    return db.execute(
        "DELETE FROM actions WHERE decided_at < ? AND status != 'intended'"
        " AND seq NOT IN (SELECT MAX(seq) FROM actions"
        " WHERE status IN ('done', 'dry_run') GROUP BY region, status)",
        (cutoff,),
    ).rowcount


def marker_posted(db: sqlite3.Connection) -> bool:
    """Whether any deploy marker is stored (a deploy posted, not detected)."""
    row = db.execute("SELECT 1 FROM deploys WHERE source = ? LIMIT 1", (DeploySource.MARKER.value,))
    return row.fetchone() is not None


def _action(row: tuple[Any, ...]) -> ActionRecord:
    (seq, id_, region, endpoint, action, decided, reason, evidence, mode, urgent, status, guard,
     detail, uncovered, attempts, finished, instance, by, forced, source) = row  # fmt: skip
    return ActionRecord(
        seq=int(seq),
        id=str(id_),
        region=str(region),
        endpoint=str(endpoint),
        action=str(action),
        decided_at=_time(decided),
        reason=str(reason),
        evidence=json.loads(str(evidence)),
        mode=str(mode),
        urgent=bool(urgent),
        status=str(status),
        guard=guard,
        detail=str(detail),
        uncovered=tuple(json.loads(str(uncovered))),
        attempts=int(attempts),
        finished_at=_time(finished) if finished is not None else None,
        instance=str(instance),
        by=str(by),
        forced=bool(forced),
        source=str(source),
    )


def _time(timestamp: float) -> datetime:
    return datetime.fromtimestamp(float(timestamp), UTC)
