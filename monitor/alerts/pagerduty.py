"""PagerDuty: the Events API v2 (docs/alerts.md, "PagerDuty").

An event opening or changing a problem is a `trigger`; its resolution a `resolve` with the
same `dedup_key`, so PagerDuty resolves the incident the trigger opened. The key is a hash of
the problem and the time it began: one incident per occurrence of a problem (a region failing
again tomorrow is a new incident), the same key on every attempt and after a restart, and no
secret in it. PagerDuty answers 202; 400 (an invalid event) is final, 429 and 5xx are tried
again (delivery.py classifies them). The routing key travels in the body, never in a message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from monitor.alerts.delivery import Channel, dumps
from monitor.alerts.notifier import Alert
from monitor.alerts.wording import clip, headline
from monitor.clock import Clock

__all__ = ["PagerDutyNotifier", "dedup_key", "payload"]

_SUMMARY = 1024  # the Events API's limit on payload.summary
# Ours to PagerDuty's (critical, error, warning, info): ours has no "error".
_SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}


def dedup_key(event: Mapping[str, Any]) -> str:
    """One per problem and occurrence: its key and when it began, hashed (32 hex digits)."""
    text = f"{event.get('problem')}|{event.get('since')}"
    return "regionwatch-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def payload(message: Alert, routing_key: str) -> dict[str, Any]:
    """The Events API v2 body of `message`: a resolve for a resolution, else a trigger."""
    event = message.event
    body: dict[str, Any] = {"routing_key": routing_key, "dedup_key": dedup_key(event)}
    if event.get("resolved"):
        return {**body, "event_action": "resolve"}
    region = event.get("region")
    evidence = event.get("evidence")
    details = {
        **(evidence if isinstance(evidence, Mapping) else {}),
        "event_id": event.get("id"),
        "problem": event.get("problem"),
        "since": event.get("since"),
        "instance": event.get("instance"),
    }
    body |= {
        "event_action": "trigger",
        "payload": {
            "summary": clip(headline(event), _SUMMARY) or str(event.get("type")),
            # The affected system: the region, or for the monitor's own events, the monitor.
            "source": str(region or event.get("instance") or "regionwatch"),
            "severity": _SEVERITIES.get(str(event.get("severity")), "error"),
            "timestamp": event.get("at"),
            "class": event.get("type"),
            "custom_details": details,
        },
        "client": "regionwatch",
    }
    if region:
        body["payload"] |= {"component": region, "group": region}
    if message.link:
        body |= {
            "client_url": message.link,
            "links": [{"href": message.link, "text": "Open regionwatch"}],
        }
    return body


class PagerDutyNotifier:
    """One channel of type `pagerduty`: POSTs `payload` to the Events API (`url`)."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        routing_key: str,
        clock: Clock,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._routing_key = routing_key
        self._channel = Channel(
            "pagerduty", name, url, clock=clock, headers=headers, timeout=timeout
        )

    async def send(self, message: Alert) -> None:
        await self._channel.post(dumps(payload(message, self._routing_key)))

    async def aclose(self) -> None:
        await self._channel.aclose()
