"""The words of a message a person reads (Slack, Teams, PagerDuty), from an alert's event.

One wording for every kind, so a page and its chat message say the same thing. Each kind
escapes for its own markup and clips to its own limits; these helpers clip what is unbounded
(a summary, the evidence) so no message grows past what its receiver takes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["clip", "evidence_lines", "facts", "headline", "origin"]

_EVIDENCE_LINES = 8
_EVIDENCE_LINE = 200


def clip(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def headline(event: Mapping[str, Any]) -> str:
    """The one line: the summary, marked when the event resolves its problem."""
    summary = str(event.get("summary", ""))
    return f"Resolved: {summary}" if event.get("resolved") else summary


def facts(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Severity, region, since when, and the event type, as (title, value) pairs."""
    return [
        ("Severity", str(event.get("severity", ""))),
        ("Region", str(event.get("region") or "-")),
        ("Since", _moment(event.get("since"))),
        ("Event", str(event.get("type", ""))),
    ]


def evidence_lines(evidence: Mapping[str, Any]) -> list[str]:
    """The evidence in short: one `key: value` line per entry (text as is, a list of texts
    joined by `; `, anything else as compact JSON), each clipped, at most `_EVIDENCE_LINES`
    (the last saying how many were left)."""
    lines = []
    for key, value in evidence.items():
        lines.append(clip(f"{key}: {_shown(value)}", _EVIDENCE_LINE))
    if len(lines) > _EVIDENCE_LINES:
        left = len(lines) - _EVIDENCE_LINES + 1
        lines = [*lines[: _EVIDENCE_LINES - 1], f"(and {left} more)"]
    return lines


def _shown(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value)
    return json.dumps(value, separators=(", ", ": "))


def origin(event: Mapping[str, Any]) -> str:
    """Which monitor saw it, and the event's id (to find it in the API and the dashboard)."""
    return f"{event.get('instance', '?')} · event {event.get('id', '?')}"


def _moment(value: object) -> str:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
