"""`regionwatch replay`: a replay's report (monitor/replay.py) as words for a person, or as
one JSON document (its shape is in docs/failover.md, "Replay")."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from monitor.auditstore import ActionRecord
from monitor.replay import ByHand, Difference, ReplayedAction, ReplayReport

__all__ = ["in_words", "render", "report_document"]

_TAKEN = ("done", "dry_run")
_PAST = {"disable": "disabled", "enable": "enabled"}
_KINDS = {"rounds": "round", "traffic_manager_reads": "Traffic Manager read"}


def render(report: ReplayReport, *, period: str) -> str:
    """The report in words: what the candidate would have done (`period` says over when, "in
    the last 7 days"), each action with its time and reason, and the differences."""
    until = _clock(report.until) if report.until is not None else "the end of the history"
    lines = [
        f"replayed {report.store} from {_clock(report.since)} to {until} "
        f"with failover.mode {report.mode}: {_evidence(report.evidence)}",
        *_summary(report, period),
    ]
    if report.actions:
        lines += ["", "what it would have done:"]
        lines += [line for action in report.actions for line in _action(action)]
    if report.by_hand:
        lines += ["", "by hand (a person's commands, given as recorded; not compared):"]
        lines += [line for command in report.by_hand for line in _by_hand(command)]
    lines.append("")
    if report.same:
        lines.append(
            f"the same as the recorded decisions ({len(report.recorded)} in the window): "
            "no difference"
        )
    else:
        lines.append(f"differences from the recorded decisions ({len(report.recorded)}):")
        lines += [f"  {d.kind:<8} {d.detail}" for d in report.differences]
    if report.notes:
        lines += ["", "notes:", *(f"  {note}" for note in report.notes)]
    return "\n".join(lines)


def report_document(report: ReplayReport) -> dict[str, Any]:
    """The report as the JSON document `regionwatch replay --json` prints."""
    return {
        "store": str(report.store),
        "since": report.since.isoformat(),
        "until": report.until.isoformat() if report.until is not None else None,
        "mode": report.mode,
        "evidence": dict(report.evidence),
        "same": report.same,
        "summary": [
            {
                "region": region,
                "action": action,
                "taken": counts["taken"],
                "in_deploy_window": counts["window"],
                "refused": counts["refused"],
                "failed": counts["failed"],
            }
            for (region, action), counts in _tallies(report.actions).items()
        ],
        "actions": [_action_document(a) for a in report.actions],
        "recorded": [_record_document(r) for r in report.recorded],
        "differences": [_difference_document(d) for d in report.differences],
        "by_hand": [_by_hand_document(h) for h in report.by_hand],
        "notes": list(report.notes),
    }


def in_words(span: timedelta) -> str:
    """A duration as a person says it: `7 days`, `1 hour 30 minutes`."""
    seconds = int(span.total_seconds())
    words = []
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            words.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(words) or "0 seconds"


def _summary(report: ReplayReport, period: str) -> list[str]:
    tallies = _tallies(report.actions)
    if not tallies:
        return [f"{report.mode} would have taken no action {period}"]
    lines = []
    for (region, action), counts in tallies.items():
        parts = []
        taken = counts["taken"]
        if taken:
            verb = _PAST.get(action, action)
            if report.mode == "dry-run":
                verb = f"recorded that it would have {verb}"
            line = f"{report.mode} would have {verb} {region} {_times(taken)} {period}"
            if action == "disable":
                window = counts["window"]
                line += f"; {window} {'was' if window == 1 else 'were'} within a deploy window"
            parts.append(line)
        for outcome in ("refused", "failed"):
            if counts[outcome]:
                parts.append(
                    f"{report.mode} would have decided to {action} {region} and been {outcome} "
                    f"{_times(counts[outcome])} {period}"
                )
        lines += parts
    return lines


def _tallies(actions: tuple[ReplayedAction, ...]) -> dict[tuple[str, str], Counter[str]]:
    tallies: dict[tuple[str, str], Counter[str]] = {}
    for a in actions:
        counts = tallies.setdefault((a.region, a.action), Counter())
        if a.result in _TAKEN:
            counts["taken"] += 1
            counts["window"] += a.in_deploy_window
        elif a.result in ("refused", "failed"):
            counts[a.result] += 1
    return tallies


def _action(a: ReplayedAction) -> list[str]:
    how = a.result + (f" by {a.guard}" if a.guard else "")
    recorded = "as recorded" if a.recorded_id is not None else "not as recorded"
    urgent = ", urgent" if a.urgent else ""
    return [
        f"  {_clock(a.at)}  {a.action} {a.region}: {how} ({a.mode}{urgent}; {recorded})",
        f"    why: {a.reason}",
        f"    outcome: {a.detail}",
    ]


def _by_hand(command: ByHand) -> list[str]:
    r, a = command.recorded, command.replayed
    forced = ", forced" if r.forced else ""
    head = f"  {_clock(r.decided_at)}  {r.action} {r.region} by {r.by}"
    if a is None:
        return [f"{head}: not given (the candidate has no region {r.region})"]
    how = a.result + (f" by {a.guard}" if a.guard else "")
    recorded = (
        "as recorded"
        if command.as_recorded
        else f"recorded {r.status}{f' by {r.guard}' if r.guard else ''} in {r.mode}"
    )
    return [
        f"{head}: {how} ({a.mode}{forced}; {recorded})",
        f"    why: {r.reason}",
        f"    outcome: {a.detail}",
    ]


def _evidence(counts: dict[str, int] | Any) -> str:
    words = []
    for kind, count in counts.items():
        noun = _KINDS.get(kind, kind.replace("_", " ").removesuffix("s"))
        words.append(f"{count} {noun}{'s' if count != 1 else ''}")
    return ", ".join(words) or "no evidence in the window"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _action_document(a: ReplayedAction) -> dict[str, Any]:
    return {
        "id": a.id,
        "region": a.region,
        "endpoint": a.endpoint,
        "action": a.action,
        "at": a.at.isoformat(),
        "mode": a.mode,
        "urgent": a.urgent,
        "result": a.result,
        "guard": a.guard,
        "detail": a.detail,
        "reason": a.reason,
        "in_deploy_window": a.in_deploy_window,
        "recorded": (
            {"id": a.recorded_id, "decided_at": a.recorded_at.isoformat()}
            if a.recorded_id is not None and a.recorded_at is not None
            else None
        ),
    }


def _record_document(r: ActionRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "region": r.region,
        "action": r.action,
        "decided_at": r.decided_at.isoformat(),
        "mode": r.mode,
        "result": r.status,
        "guard": r.guard,
        "reason": r.reason,
    }


def _by_hand_document(h: ByHand) -> dict[str, Any]:
    r, a = h.recorded, h.replayed
    return {
        "id": r.id,
        "region": r.region,
        "endpoint": r.endpoint,
        "action": r.action,
        "at": r.decided_at.isoformat(),
        "by": r.by,
        "source": r.source,
        "forced": r.forced,
        "reason": r.reason,
        "as_recorded": h.as_recorded,
        "replayed": (
            {"mode": a.mode, "result": a.result, "guard": a.guard, "detail": a.detail}
            if a is not None
            else None
        ),
        "recorded": {"mode": r.mode, "result": r.status, "guard": r.guard, "detail": r.detail},
    }


def _difference_document(d: Difference) -> dict[str, Any]:
    return {
        "kind": d.kind,
        "region": d.region,
        "action": d.action,
        "at": d.at.isoformat(),
        "detail": d.detail,
        "replayed": d.replayed.id if d.replayed is not None else None,
        "recorded": d.recorded.id if d.recorded is not None else None,
    }


def _clock(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"
