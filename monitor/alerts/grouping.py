"""Which of a channel's pending alerts go now, which wait, and which are folded into another:
the noise rules of docs/alerts.md#noise as a pure function of the pending rows.

- A problem's first message (none of its messages went to the channel within `group_window`)
  goes at once. What follows about the same problem within `group_window` of the last message
  sent is held to the window's end, then sent as one message: the newest, carrying `grouped`.
- An opening still pending whose resolution is pending behind it, and ended longer ago than
  `fold_after`, is not sent: it is folded into that resolution (`folded`). A resolution is
  never folded away; grouping keeps the newest message, so a problem's last resolution goes.
- A fact (`monitor.events.FACTS`: an endpoint disabled, a deploy, the monitor stopping) is an
  occurrence, not a change of a problem: never held nor grouped, it goes at once.
- Order: a region's lane goes in `seq` order, but a problem held for grouping steps aside: the
  lane's head is its oldest row whose problem is not held. A problem's rows all wait with it,
  so its resolution never overtakes its opening.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from monitor.alerts.outbox import FOLDED, GROUPED, OutboxRow
from monitor.events import FACTS

__all__ = ["Fold", "Noise", "Plan", "plan"]


@dataclass(frozen=True, slots=True)
class Noise:
    """The `alerting` settings the dispatcher applies (the defaults: every message at once,
    nothing folded, no reminders)."""

    group_window: timedelta = timedelta(0)
    fold_after: timedelta | None = None
    remind_every: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Fold:
    """Row `seq` is not sent: it is folded (`state` grouped or folded) into the row `into`."""

    seq: int
    into: str
    state: str


@dataclass(slots=True)
class Plan:
    """What to do with a channel's pending rows now: `folds` to record, `rewritten` rows
    whose event now carries what was folded into them, the rows `due` now, and the seconds
    until a row is due (0 with rows due; None: nothing pending)."""

    folds: list[Fold] = field(default_factory=list)
    rewritten: list[OutboxRow] = field(default_factory=list)
    due: list[OutboxRow] = field(default_factory=list)
    wait: float | None = None


def plan(
    rows: Sequence[OutboxRow], last_sent: Mapping[str, float], now: float, noise: Noise
) -> Plan:
    """The plan for `rows` (a channel's pending rows, in `seq` order) at `now`, given when a
    message of each problem last went to the channel (`last_sent`)."""
    result = Plan()
    by_problem: dict[str, list[OutboxRow]] = {}
    for row in rows:
        by_problem.setdefault(row.problem, []).append(row)
    held_until: dict[str, float] = {}
    for problem, mine in by_problem.items():
        if noise.fold_after is not None:
            mine = _fold_stale(mine, now - noise.fold_after.total_seconds(), result)
        sent = last_sent.get(problem)
        window = noise.group_window.total_seconds()
        fact = mine[0].event.get("type") in FACTS
        if window > 0 and not fact and sent is not None and mine[0].created_at < sent + window:
            if now < sent + window:
                held_until[problem] = sent + window
            elif len(mine) > 1:
                mine = [_group(mine, result)]
        by_problem[problem] = mine
    remaining = sorted((r for mine in by_problem.values() for r in mine), key=lambda r: r.seq)
    waits = list(held_until.values())
    seen_lanes: set[str] = set()
    for row in remaining:
        if row.problem in held_until or row.lane in seen_lanes:
            continue
        seen_lanes.add(row.lane)
        if row.next_at <= now:
            result.due.append(row)
        waits.append(row.next_at)
    if waits:
        result.wait = max(0.0, min(waits) - now)
    return result


def _fold_stale(rows: list[OutboxRow], ended_before: float, result: Plan) -> list[OutboxRow]:
    """`rows` without the openings whose resolution, behind them, ended before `ended_before`;
    each folded into that resolution."""
    kept: list[OutboxRow] = []
    targets: dict[int, OutboxRow] = {}
    for i, row in enumerate(rows):
        if row.seq in targets:
            kept.append(targets[row.seq])
            continue
        resolution = None if _resolved(row) else _next_resolution(rows, i, targets)
        if resolution is None or _at(resolution.event) > ended_before:
            kept.append(row)
            continue
        event = dict(resolution.event)
        event["folded"] = [*event.get("folded", []), *_folded_entries(row.event)]
        targets[resolution.seq] = replace(resolution, event=event)
        result.folds.append(Fold(row.seq, resolution.key, FOLDED))
    result.rewritten.extend(targets.values())
    return kept


def _next_resolution(
    rows: list[OutboxRow], i: int, targets: Mapping[int, OutboxRow]
) -> OutboxRow | None:
    for later in rows[i + 1 :]:
        if _resolved(later):
            return targets.get(later.seq, later)
    return None


def _group(rows: list[OutboxRow], result: Plan) -> OutboxRow:
    """The newest of `rows` carrying `grouped` (every change they stand for) and whatever
    they had folded; the others recorded as grouped into it."""
    newest = rows[-1]
    ids: list[str] = []
    ats: list[str] = []
    folded: list[Any] = []
    for row in rows:
        grouped = row.event.get("grouped")
        if grouped is not None:
            ids += grouped["ids"]
            ats += [grouped["first_at"], grouped["last_at"]]
        else:
            ids.append(str(row.event["id"]))
            ats.append(str(row.event["at"]))
        folded += row.event.get("folded", [])
    ids = list(dict.fromkeys(ids))
    event = dict(newest.event)
    event["grouped"] = {
        "count": len(ids),
        "ids": ids,
        "first_at": min(ats, key=_instant),
        "last_at": max(ats, key=_instant),
    }
    if folded:
        event["folded"] = folded
    else:
        event.pop("folded", None)
    result.folds += [Fold(row.seq, newest.key, GROUPED) for row in rows[:-1]]
    # An earlier rewrite of the newest (a fold into it) is superseded by this one.
    result.rewritten[:] = [r for r in result.rewritten if r.seq != newest.seq]
    grouped = replace(newest, event=event)
    result.rewritten.append(grouped)
    return grouped


def _folded_entries(event: Mapping[str, Any]) -> list[Any]:
    entry = {k: event.get(k) for k in ("id", "type", "at", "summary")}
    return [*event.get("folded", []), entry]


def _resolved(row: OutboxRow) -> bool:
    return row.event.get("resolved") is True


def _at(event: Mapping[str, Any]) -> float:
    return _instant(str(event["at"]))


def _instant(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
