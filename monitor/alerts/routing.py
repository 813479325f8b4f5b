"""Which channels an event goes to: each channel's event types, regions and minimum severity.

A resolution also follows its problem to every channel that was sent the problem, whatever its
own severity; the outbox adds those (it knows where the problem went), not this.
An event about a silenced region (`evidence.silenced`, set by the engine) goes nowhere: the
silence is a person saying they know.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.alerts.outbox import Router
from monitor.config import AlertConfig
from monitor.events import Event, Severity

__all__ = ["router"]


def router(channels: Sequence[AlertConfig], *, any_severity: bool = False) -> Router:
    """The routing of `channels` as a function of an event (with `any_severity`, each
    channel's minimum severity is left out)."""

    def route(event: Event) -> list[str]:
        if "silenced" in event.evidence:
            return []
        return [c.name for c in channels if _takes(c, event, any_severity=any_severity)]

    return route


def _takes(channel: AlertConfig, event: Event, *, any_severity: bool) -> bool:
    if channel.events is not None and event.type.value not in channel.events:
        return False
    if (
        channel.regions is not None
        and event.region is not None
        and event.region not in channel.regions
    ):
        return False
    return any_severity or event.severity.rank >= Severity(channel.min_severity).rank
