"""PagerDuty: the Events API v2 (docs/alerts.md, "PagerDuty").

An event opening or changing a problem is a `trigger`; its resolution a `resolve` with the
same `dedup_key`, so PagerDuty resolves the incident the trigger opened. The key is a hash of
the problem (`region/westeurope`): a change of kind (failing, then degraded) updates the open
incident rather than opening a second one its resolution would never close, and a trigger after
the resolve opens a new incident (PagerDuty's rule for a resolved key); the same key on every
attempt and after a restart, and no secret in it. A fact (an endpoint disabled, a deploy
recorded: nothing will ever resolve it) is a change event (`/v2/change/enqueue`), shown on the
service's timeline without paging anyone. PagerDuty answers 202; 400 (an invalid event) is final, 429 and 5xx are tried
again (delivery.py classifies them). The routing key travels in the body, never in a message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from monitor.alerts.delivery import Channel, dumps
from monitor.alerts.notifier import Alert
from monitor.alerts.wording import clip, headline
from monitor.clock import Clock
from monitor.events import FACTS

__all__ = ["PagerDutyNotifier", "change", "change_url", "dedup_key", "is_change", "payload"]

_SUMMARY = 1024  # the Events API's limit on payload.summary
# Ours to PagerDuty's (critical, error, warning, info): ours has no "error".
_SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}


def dedup_key(event: Mapping[str, Any]) -> str:
    """One per problem: its key, hashed (32 hex digits)."""
    text = str(event.get("problem"))
    return "regionwatch-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def is_change(event: Mapping[str, Any]) -> bool:
    """Whether `event` is a fact, sent as a change event rather than an alert."""
    return event.get("type") in FACTS and not event.get("resolved")


def change_url(url: str) -> str:
    """The Change Events address beside an Events API address (`.../v2/enqueue` ->
    `.../v2/change/enqueue`); another address is used as it is."""
    parts = urlsplit(url)
    path = parts.path
    if path.endswith("/enqueue") and not path.endswith("/change/enqueue"):
        path = path.removesuffix("enqueue") + "change/enqueue"
    return urlunsplit(parts._replace(path=path))


def change(message: Alert, routing_key: str) -> dict[str, Any]:
    """The Change Events body of a fact: its summary, source, time and details."""
    event = message.event
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "payload": {
            "summary": clip(headline(event), _SUMMARY) or str(event.get("type")),
            "source": str(event.get("region") or event.get("instance") or "regionwatch"),
            "timestamp": event.get("at"),
            "custom_details": _details(event),
        },
    }
    if message.link:
        body["links"] = [{"href": message.link, "text": "Open regionwatch"}]
    return body


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    evidence = event.get("evidence")
    return {
        **(evidence if isinstance(evidence, Mapping) else {}),
        "event_id": event.get("id"),
        "type": event.get("type"),
        "region": event.get("region"),
        "problem": event.get("problem"),
        "since": event.get("since"),
        "instance": event.get("instance"),
    }


def payload(message: Alert, routing_key: str) -> dict[str, Any]:
    """The Events API v2 body of `message`: a resolve for a resolution, else a trigger."""
    event = message.event
    body: dict[str, Any] = {"routing_key": routing_key, "dedup_key": dedup_key(event)}
    if event.get("resolved"):
        return {**body, "event_action": "resolve"}
    region = event.get("region")
    details = _details(event)
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
        self._changes = Channel(
            "pagerduty", name, change_url(url), clock=clock, headers=headers, timeout=timeout
        )

    async def send(self, message: Alert) -> None:
        if is_change(message.event):
            await self._changes.post(dumps(change(message, self._routing_key)))
        else:
            await self._channel.post(dumps(payload(message, self._routing_key)))

    async def aclose(self) -> None:
        await self._channel.aclose()
        await self._changes.aclose()
