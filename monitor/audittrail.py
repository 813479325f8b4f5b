"""The audit trail read as one: every decision about an endpoint (the `actions` table: the
policy's, a person's disable, enable or adoption) and every pin, silence and pause as it started
and as it ended (the `controls` table), newest first, filtered and paged. Plain functions of a
connection; `monitor.store.Store` runs them on its thread.

Nothing is stored twice: the entries are made from the two tables when they are read, so the
trail always agrees with `GET /api/v1/actions` and the controls' own lists.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.sqlwhere import where

__all__ = ["TrailEntry", "parse_cursor", "select_trail"]

# One row per decision, one per control started, one per control ended. `rank` orders the
# entries of one instant as they follow each other (a decision, then the controls it ended and
# started: a person's enable held as a pin, an old pin replaced by a new one), `ref` the rows of
# one table; (at, rank, ref) is unique and is the paging cursor.
_TRAIL = """
    SELECT at, rank, ref, kind, change, id, region, by, reason, result, forced, source,
           until, detail
    FROM (
        SELECT decided_at AS at, 0 AS rank, seq AS ref, 'action' AS kind, action AS change,
               id, region, by, reason, status AS result, forced, source, NULL AS until, detail
        FROM actions
        UNION ALL
        SELECT started_at, 2, seq, kind, 'started', id, region, by, reason, NULL, 0, NULL,
               until, NULL
        FROM controls
        UNION ALL
        SELECT ended_at, 1, seq, kind, 'ended', id, region, ended_by, end_reason, NULL, 0, NULL,
               until, NULL
        FROM controls WHERE ended_at IS NOT NULL
    )
"""


@dataclass(frozen=True, slots=True)
class TrailEntry:
    """One entry of the audit trail. `kind` is `action`, `pin`, `silence` or `pause`; `change`
    is an action's verb (`disable`, `enable`, `adopt`), or `started` / `ended` for a control.
    `by` and `reason` are who decided or asked and why (for `ended`: who ended it and why;
    `regionwatch` when it expired or the region recovered). `result`, `forced`, `source` and
    `detail` are an action's; `until` a control's end as it was set. `cursor` names this entry's
    place, for the next page."""

    at: datetime
    kind: str
    change: str
    id: str
    region: str | None
    by: str
    reason: str
    result: str | None
    forced: bool
    source: str | None
    until: datetime | None
    detail: str | None
    cursor: str

    @property
    def summary(self) -> str:
        """The entry in words: `disable of westeurope done by alice (forced): migration`,
        `pin of westeurope started by alice until 2026-11-02 16:00:00 UTC: investigating`."""
        where = f" of {self.region}" if self.region else ""
        if self.kind == "action":
            forced = " (forced)" if self.forced else ""
            return f"{self.change}{where} {self.result} by {self.by}{forced}: {self.reason}"
        if self.change == "started":
            span = f"until {self.until:%Y-%m-%d %H:%M:%S} UTC" if self.until else "until ended"
            return f"{self.kind}{where} started by {self.by} {span}: {self.reason}"
        return f"{self.kind}{where} ended by {self.by}: {self.reason}"


def select_trail(
    db: sqlite3.Connection,
    *,
    region: str | None = None,
    since: datetime | None = None,
    before: tuple[float, int, int] | None = None,
    limit: int = 100,
) -> list[TrailEntry]:
    """Entries matching the filters, newest first. `region`: that region's entries and the
    pauses (which hold every region); `since`: at or after it; `before`: older than the entry
    whose cursor it is (`parse_cursor`)."""
    condition, args = where(
        ("(region = ? OR region IS NULL)", region),
        ("at >= ?", since.timestamp() if since is not None else None),
        ("(at, rank, ref) < (?, ?, ?)", before),
    )
    rows = db.execute(
        f"{_TRAIL}{condition} ORDER BY at DESC, rank DESC, ref DESC LIMIT ?",
        [*args, limit],
    )
    return [_entry(row) for row in rows]


def parse_cursor(text: str) -> tuple[float, int, int] | None:
    """The place a cursor names, or None when it is not one of ours."""
    parts = text.split("_")
    if len(parts) != 3:
        return None
    try:
        return float(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return None


def _entry(row: tuple[Any, ...]) -> TrailEntry:
    (at, rank, ref, kind, change, id_, region, by, reason, result, forced, source, until,
     detail) = row  # fmt: skip
    return TrailEntry(
        at=_time(at),
        kind=str(kind),
        change=str(change),
        id=str(id_),
        region=region,
        by=str(by),
        reason=str(reason),
        result=result,
        forced=bool(forced),
        source=source,
        until=_time(until) if until is not None else None,
        detail=detail,
        cursor=f"{float(at)!r}_{int(rank)}_{int(ref)}",
    )


def _time(timestamp: float) -> datetime:
    return datetime.fromtimestamp(float(timestamp), UTC)
