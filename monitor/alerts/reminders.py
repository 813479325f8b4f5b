"""Reminders of problems still open, queued in the outbox like any alert. Plain functions of a
connection; `monitor.store.Store` runs them on its thread.

Their state is the outbox itself: the last row of a problem in a channel says what was last
sent (an opening, a reminder, a resolution), when, and which reminder it was; so a restart
goes on where the last process stopped, and a reminder is queued once (its key is stable).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Set

from monitor.alerts.outbox import DELIVERED, FOLDED, GROUPED, PENDING
from monitor.events import FACTS

__all__ = ["queue_reminders", "reminder_key"]

# What an earlier message carried about the changes behind it: not repeated by a reminder.
_NOT_REPEATED = ("grouped", "folded")


def reminder_key(event_id: str, channel: str, n: int) -> str:
    """Stable per event, channel and reminder: a receiver deduplicates on it."""
    return hashlib.sha256(f"{event_id}|{channel}|reminder {n}".encode()).hexdigest()[:32]


def queue_reminders(
    db: sqlite3.Connection, channel: str, now: float, every: float, silenced: Set[str]
) -> tuple[int, float | None]:
    """Queue a reminder in `channel` for every problem whose last message there was delivered
    `every` seconds ago or more, was not a resolution, and whose last stored event is no
    resolution either, unless its region is in `silenced`. A fact (`monitor.events.FACTS`)
    opens no problem: nothing ever resolves it, so it is never reminded. Call inside a transaction.
    Returns how many were queued, and when the next one falls due (None: no problem open in
    this channel)."""
    rows = db.execute(
        "SELECT o.problem, o.lane, o.event_id, o.event, o.finished_at FROM outbox o"
        " WHERE o.seq IN (SELECT MAX(seq) FROM outbox WHERE channel = ?"
        " AND state NOT IN (?, ?) GROUP BY problem) AND o.state = ?"
        # The condition is still open: its last stored event does not close it.
        " AND (SELECT resolved FROM events e WHERE e.problem = o.problem"
        " ORDER BY e.seq DESC LIMIT 1) = 0",
        (channel, GROUPED, FOLDED, DELIVERED),
    ).fetchall()
    next_due = None
    queued = 0
    for problem, lane, event_id, text, finished_at in rows:
        event = json.loads(str(text))
        if event.get("resolved") is True or event.get("type") in FACTS or lane in silenced:
            continue
        due = float(finished_at) + every
        if due > now:
            next_due = due if next_due is None else min(next_due, due)
            continue
        n = int(event.get("reminder", 0)) + 1
        body = {k: v for k, v in event.items() if k not in _NOT_REPEATED} | {"reminder": n}
        queued += db.execute(
            "INSERT OR IGNORE INTO outbox (key, channel, lane, problem, event_id, event,"
            " state, attempts, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (
                reminder_key(str(event_id), channel, n),
                channel,
                lane,
                problem,
                event_id,
                json.dumps(body),
                PENDING,
                now,
                now,
            ),
        ).rowcount
    return queued, next_due
