"""Which channels an event goes to: each channel's event types, regions and minimum severity.

A resolution also follows its problem to every channel that was sent the problem, whatever its
own severity; the outbox adds those (it knows where the problem went), not this.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.alerts.outbox import Router
from monitor.config import AlertConfig
from monitor.events import Event, Severity

__all__ = ["router"]


def router(channels: Sequence[AlertConfig]) -> Router:
    """The routing of `channels` as a function of an event."""

    def route(event: Event) -> list[str]:
        return [c.name for c in channels if _takes(c, event)]

    return route


def _takes(channel: AlertConfig, event: Event) -> bool:
    if channel.events is not None and event.type.value not in channel.events:
        return False
    if (
        channel.regions is not None
        and event.region is not None
        and event.region not in channel.regions
    ):
        return False
    return event.severity.rank >= Severity(channel.min_severity).rank
