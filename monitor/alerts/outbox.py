"""The alert outbox in SQLite: one row per event and channel, written in the event's own
transaction, so an alert exists exactly when its event does. Plain functions of a connection;
`monitor.store.Store` runs them on its thread.

A row is `pending` until delivered (`delivered`) or given up (`dead`), or until it is folded into
another row of its problem (`grouped` into a grouped message, or `folded`: an opening whose
problem had long ended, into its resolution), which `folded_into` names by key. Rows of one
channel and one lane (the event's region, or `-` for the monitor itself) are delivered in `seq`
order, but for what `monitor.alerts.grouping` holds back (docs/alerts.md#noise).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.events import Event
from monitor.eventstore import resolution_after

__all__ = [
    "DEAD",
    "DELIVERED",
    "FOLDED",
    "GROUPED",
    "NO_REGION",
    "OUTBOX_SCHEMA",
    "PENDING",
    "OutboxRow",
    "Router",
    "channel_pending",
    "dead_letters",
    "enqueue_alerts",
    "event_json",
    "finish_row",
    "fold_rows",
    "idempotency_key",
    "last_sent",
    "outbox_counts",
    "pending_rows",
    "postpone_row",
    "prune_outbox",
    "resend_row",
    "rewrite_event",
]

OUTBOX_SCHEMA = """
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        channel TEXT NOT NULL,
        lane TEXT NOT NULL,
        problem TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        created_at REAL NOT NULL,
        next_at REAL NOT NULL,
        finished_at REAL,
        last_error TEXT,
        folded_into TEXT
    );
    CREATE INDEX outbox_pending ON outbox (channel, state, seq);
    CREATE INDEX outbox_by_problem ON outbox (problem, channel)
"""
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
GROUPED, FOLDED = "grouped", "folded"
NO_REGION = "-"

# The channels an event is routed to by configuration (events, regions, minimum severity).
Router = Callable[[Event], Sequence[str]]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    key: str
    channel: str
    lane: str
    event: dict[str, Any]
    attempts: int
    created_at: float
    next_at: float
    problem: str = ""


def event_json(event: Event) -> dict[str, Any]:
    """An event as alerts carry it (the `event` object of docs/alerts.md)."""
    return {
        "id": event.id,
        "type": event.type.value,
        "severity": event.severity.value,
        "region": event.region,
        "at": event.at.isoformat(),
        "since": event.since.isoformat(),
        "summary": event.summary,
        "evidence": dict(event.evidence),
        "problem": event.problem,
        "resolved": event.resolved,
        "instance": event.instance,
    }


def idempotency_key(event_id: str, channel: str) -> str:
    """Stable per event and channel: a receiver deduplicates retries and restarts on it."""
    return hashlib.sha256(f"{event_id}|{channel}".encode()).hexdigest()[:32]


def enqueue_alerts(
    db: sqlite3.Connection, events: Sequence[Event], route: Router, now: float
) -> int:
    """Queue each event for the channels `route` names, and a resolution also for every
    channel its problem was sent to, whatever its own severity. Call inside the transaction
    that inserts the events, with only the events newly inserted. Returns the rows queued."""
    queued = 0
    for event in events:
        channels = list(route(event))
        if event.resolved:
            channels += [
                row[0]
                for row in db.execute(
                    "SELECT DISTINCT channel FROM outbox WHERE problem = ?", (event.problem,)
                )
            ]
        for channel in dict.fromkeys(channels):
            queued += db.execute(
                "INSERT OR IGNORE INTO outbox (key, channel, lane, problem, event_id, event,"
                " state, attempts, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                (
                    idempotency_key(event.id, channel),
                    channel,
                    event.region or NO_REGION,
                    event.problem,
                    event.id,
                    json.dumps(event_json(event)),
                    PENDING,
                    now,
                    now,
                ),
            ).rowcount
    return queued


def pending_rows(db: sqlite3.Connection, channel: str) -> list[OutboxRow]:
    """The first pending row of every lane of `channel`, oldest lane first: what is next in
    each region, held back or not."""
    return _rows(
        db,
        "WHERE seq IN (SELECT MIN(seq) FROM outbox WHERE channel = ? AND state = ?"
        " GROUP BY lane) ORDER BY seq",
        (channel, PENDING),
    )


def channel_pending(db: sqlite3.Connection, channel: str) -> list[OutboxRow]:
    """Every pending row of `channel`, in `seq` order: what the noise rules plan over."""
    return _rows(db, "WHERE channel = ? AND state = ? ORDER BY seq", (channel, PENDING))


def last_sent(db: sqlite3.Connection, channel: str) -> dict[str, float]:
    """When a message of each problem with a row pending in `channel` last went to it."""
    # Per problem pending (few), through the (problem, channel) index: not a scan of the
    # channel's whole history.
    rows = db.execute(
        "SELECT p.problem, (SELECT MAX(o.finished_at) FROM outbox o WHERE o.problem = p.problem"
        " AND o.channel = ? AND o.state = ?) FROM (SELECT DISTINCT problem FROM outbox"
        " WHERE channel = ? AND state = ?) p",
        (channel, DELIVERED, channel, PENDING),
    )
    return {str(problem): float(at) for problem, at in rows if at is not None}


def fold_rows(db: sqlite3.Connection, folds: Sequence[tuple[int, str, str]], at: float) -> None:
    """Mark rows (seq, key folded into, `GROUPED` or `FOLDED`) as not to be sent themselves."""
    db.executemany(
        "UPDATE outbox SET state = ?, folded_into = ?, finished_at = ? WHERE seq = ? AND state = ?",
        [(state, into, at, seq, PENDING) for seq, into, state in folds],
    )


def rewrite_event(db: sqlite3.Connection, seq: int, event: dict[str, Any]) -> None:
    """Replace a pending row's event (it now carries what was grouped or folded into it)."""
    db.execute("UPDATE outbox SET event = ? WHERE seq = ?", (json.dumps(event), seq))


_ROW_COLUMNS = "seq, key, channel, lane, event, attempts, created_at, next_at, problem"


def _rows(db: sqlite3.Connection, where: str, args: Sequence[object]) -> list[OutboxRow]:
    rows = db.execute(
        f"SELECT {_ROW_COLUMNS} FROM outbox {where}",  # noqa: S608 (constant clauses)
        args,
    )
    return [
        OutboxRow(
            int(s),
            str(k),
            str(c),
            str(lane),
            json.loads(str(e)),
            int(a),
            float(ca),
            float(n),
            str(p),
        )
        for s, k, c, lane, e, a, ca, n, p in rows
    ]


def postpone_row(db: sqlite3.Connection, seq: int, next_at: float, error: str) -> None:
    """Count a failed attempt and set when the next one is due."""
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE seq = ?",
        (next_at, error, seq),
    )


def finish_row(db: sqlite3.Connection, seq: int, state: str, at: float, error: str | None) -> None:
    """Mark a row delivered or dead (a dead letter, kept with its last error)."""
    db.execute(
        "UPDATE outbox SET state = ?, attempts = attempts + 1, finished_at = ?, last_error = ?"
        " WHERE seq = ?",
        (state, at, error, seq),
    )


def dead_letters(
    db: sqlite3.Connection,
    channel: str | None = None,
    *,
    before: int | None = None,
    limit: int | None = None,
    key: str | None = None,
) -> list[dict[str, Any]]:
    """Rows given up (all, `channel`'s, or the one with `key`), newest first (by `seq`,
    returned with each: the cursor of the next page, `before`); at most `limit`."""
    clauses = ["state = ?"]
    args: list[object] = [DEAD]
    if key is not None:
        clauses.append("key = ?")
        args.append(key)
    if channel is not None:
        clauses.append("channel = ?")
        args.append(channel)
    if before is not None:
        clauses.append("seq < ?")
        args.append(before)
    rows = db.execute(
        "SELECT seq, key, channel, event, attempts, created_at, finished_at, last_error"  # noqa: S608 (constant clauses)
        f" FROM outbox WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?",
        [*args, -1 if limit is None else limit],
    )
    return [
        {
            "seq": s,
            "key": k,
            "channel": c,
            "event": json.loads(e),
            "attempts": a,
            "created_at": ca,
            "finished_at": f,
            "error": err,
        }
        for s, k, c, e, a, ca, f, err in rows
    ]


def resend_row(db: sqlite3.Connection, key: str, now: float) -> bool:
    """Queue a dead letter again, at the end of its lane (a new `seq`), with a fresh retry
    budget. An opening whose problem has ended since (its resolution is in the events or the
    outbox) goes as that resolution, carrying the opening in `folded`: nobody is paged for
    something over. Returns False when `key` names no dead letter."""
    found = db.execute(
        "SELECT seq, problem, event_id, event FROM outbox WHERE key = ? AND state = ?", (key, DEAD)
    ).fetchone()
    if found is None:
        return False
    seq, problem, event_id, text = found
    event = json.loads(str(text))
    if event.get("resolved") is not True:
        resolution = _resolution(db, int(seq), str(problem), str(event_id))
        if resolution is not None:
            folded = {k: event.get(k) for k in ("id", "type", "at", "summary")}
            event = {**resolution, "folded": [*event.get("folded", []), folded]}
    db.execute(
        "UPDATE outbox SET seq = (SELECT MAX(seq) + 1 FROM outbox), state = ?, attempts = 0,"
        " created_at = ?, next_at = ?, finished_at = NULL, event = ? WHERE key = ?",
        (PENDING, now, now, json.dumps(event), key),
    )
    return True


def _resolution(db: sqlite3.Connection, seq: int, problem: str, event_id: str) -> Any:
    """The event JSON of what ended the problem of the outbox row `seq`, or None."""
    stored = resolution_after(db, problem, event_id)
    if stored is not None:
        return event_json(stored)
    # Its events pruned, the outbox still holds the last row of the problem in each channel.
    for (text,) in db.execute(
        "SELECT event FROM outbox WHERE problem = ? AND seq > ? ORDER BY seq", (problem, seq)
    ):
        later = json.loads(str(text))
        if later.get("resolved") is True:
            return {k: v for k, v in later.items() if k not in ("grouped", "folded", "reminder")}
    return None


def prune_outbox(db: sqlite3.Connection, before: float) -> int:
    """Delete rows delivered or dead before `before`. Pending rows stay, however old, and so
    does the last row of each problem and channel: a resolution follows its problem to the
    channels it went to, even a problem opened longer ago than the retention."""
    return db.execute(
        "DELETE FROM outbox WHERE state != ? AND finished_at < ?"
        " AND seq NOT IN (SELECT MAX(seq) FROM outbox GROUP BY problem, channel)",
        (PENDING, before),
    ).rowcount


def outbox_counts(db: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Rows per channel and state: `{"ops": {"pending": 2, "delivered": 40, "dead": 1}}`."""
    counts: dict[str, dict[str, int]] = {}
    for channel, state, n in db.execute(
        "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state"
    ):
        counts.setdefault(str(channel), {PENDING: 0, DELIVERED: 0, DEAD: 0})[str(state)] = int(n)
    return counts
