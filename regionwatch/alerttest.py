"""The sample alert `regionwatch alert-test` sends: what a real one looks like, marked a test."""

from __future__ import annotations

import secrets
import socket
from datetime import UTC, datetime

from monitor.alerts.notifier import Alert
from monitor.alerts.outbox import event_json, idempotency_key
from monitor.config import Config
from monitor.events import Event, EventType, Severity

__all__ = ["sample_alert"]


def sample_alert(config: Config, channel: str) -> Alert:
    """A critical `region.failing` about the first configured region, with a fresh id (so no
    receiver deduplicates it against an earlier test) and its own problem (so a PagerDuty
    incident it opens is its own), saying in its summary and evidence that it is a test."""
    region = next(iter(config.regions))
    now = datetime.now(UTC)
    event_id = secrets.token_hex(10)
    event = Event(
        id=event_id,
        type=EventType.REGION_FAILING,
        severity=Severity.CRITICAL,
        region=region,
        at=now,
        since=now,
        summary=f"TEST from regionwatch alert-test: {region} is failing (nothing is wrong)",
        evidence={"test": True, "reasons": ["a test alert sent by regionwatch alert-test"]},
        instance=config.vantage or socket.gethostname(),
        problem=f"test/{event_id}",
    )
    return Alert(
        key=idempotency_key(event_id, channel),
        channel=channel,
        event=event_json(event),
        link=config.api.public_url,
    )
