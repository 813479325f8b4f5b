"""One notifier per configured channel, by kind: the registry of channel types.

Adding a kind: a module with its payload function (a kind that POSTs one JSON document per
alert is a `JsonNotifier` of it) or a class satisfying `monitor.alerts.notifier.Notifier`, one
entry in `KINDS`, its payload in docs/alerts.md, and its test against a loopback receiver.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.alerts import slack, teams
from monitor.alerts.delivery import JsonNotifier
from monitor.alerts.notifier import Alert, Notifier
from monitor.alerts.pagerduty import PagerDutyNotifier
from monitor.alerts.webhook import WebhookNotifier
from monitor.clock import Clock
from monitor.config import AlertConfig

__all__ = ["KINDS", "build_notifier"]


def _webhook(channel: AlertConfig, clock: Clock) -> Notifier:
    return WebhookNotifier(
        channel.name,
        channel.target,
        clock=clock,
        secret=channel.secret,
        headers=channel.headers,
        timeout=channel.timeout.total_seconds(),
    )


def _slack(channel: AlertConfig, clock: Clock) -> Notifier:
    return _json("slack", channel, clock, slack.payload)


def _teams(channel: AlertConfig, clock: Clock) -> Notifier:
    return _json("teams", channel, clock, teams.payload)


def _json(
    kind: str, channel: AlertConfig, clock: Clock, payload: Callable[[Alert], object]
) -> Notifier:
    return JsonNotifier(
        kind,
        channel.name,
        channel.target,
        payload,
        clock=clock,
        headers=channel.headers,
        timeout=channel.timeout.total_seconds(),
    )


def _pagerduty(channel: AlertConfig, clock: Clock) -> Notifier:
    # The configuration requires a routing key for this kind (AlertConfig._complete).
    assert channel.routing_key is not None
    return PagerDutyNotifier(
        channel.name,
        channel.target,
        routing_key=channel.routing_key,
        clock=clock,
        headers=channel.headers,
        timeout=channel.timeout.total_seconds(),
    )


KINDS: dict[str, Callable[[AlertConfig, Clock], Notifier]] = {
    "webhook": _webhook,
    "slack": _slack,
    "teams": _teams,
    "pagerduty": _pagerduty,
}


def build_notifier(channel: AlertConfig, clock: Clock) -> Notifier:
    """The notifier of `channel` (its `type` is validated at load, so it is one of `KINDS`)."""
    return KINDS[channel.type](channel, clock)
