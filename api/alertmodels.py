"""The alerts API's shapes: each channel with its health and outbox counts, the dead letters,
and a resend's answer. No secret in any of them: a channel's target is its `safe_url` (scheme
and host; a webhook's path is a secret), and errors are worded by the notifiers without one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from api.models import EventOut
from monitor.alerts.health import ChannelHealth, ChannelStatus
from monitor.config import AlertConfig
from monitor.redaction import safe_url

__all__ = [
    "ALERTS_EXAMPLE",
    "DEAD_LETTER_EXAMPLE",
    "AlertsOut",
    "ChannelOut",
    "DeadLetterOut",
    "DeadLettersPage",
    "ResentOut",
    "channel_out",
    "dead_letter_out",
]

_EVENT_EXAMPLE: dict[str, Any] = {
    "id": "a1b2c3d4e5f60718293a",
    "type": "region.failing",
    "severity": "critical",
    "region": "westeurope",
    "at": "2026-11-02T14:00:30Z",
    "since": "2026-11-02T14:00:00Z",
    "summary": "westeurope failing: home: status 502",
    "evidence": {"status": "failing"},
    "instance": "monitor-7c9f",
    "problem": "region/westeurope",
    "resolved": False,
}
ALERTS_EXAMPLE: dict[str, Any] = {
    "name": "ops",
    "type": "webhook",
    "target": "https://hooks.example.com",
    "health": "failing",
    "pending": 1,
    "delivered": 40,
    "dead": 1,
    "in_memory": 0,
    "last_delivered_at": "2026-11-02T13:58:00Z",
    "last_error": "HTTP 400 from https://hooks.example.com",
    "last_error_at": "2026-11-02T14:00:31Z",
    "consecutive_failures": 1,
    "dead_letters_since_start": 1,
}
DEAD_LETTER_EXAMPLE: dict[str, Any] = {
    "key": "3f1c9a0d5e7b4c21a8e6f0b2d4c6e8a1",
    "channel": "ops",
    "attempts": 1,
    "error": "HTTP 400 from https://hooks.example.com",
    "queued_at": "2026-11-02T14:00:30Z",
    "dead_at": "2026-11-02T14:00:31Z",
    "event": _EVENT_EXAMPLE,
}


class ChannelOut(BaseModel):
    """One configured alert channel: where it sends, how it is doing, and its outbox."""

    name: str
    type: str = Field(description="webhook, slack, teams or pagerduty")
    target: str = Field(description="Scheme and host only: a webhook's path is a secret")
    health: ChannelHealth = Field(
        description="`delivering` (the last attempt went through, or none yet), `retrying` "
        "(attempts failing, to be tried again), `failing` (an alert was given up, or 5 "
        "attempts failed in a row, since the last delivery: `monitor.blind` is open)"
    )
    pending: int = Field(description="Alerts queued in the store, not yet delivered")
    delivered: int = Field(description="Alerts delivered, as kept in the store")
    dead: int = Field(description="Dead letters kept in the store")
    in_memory: int = Field(description="Alerts held in memory only (the store refused them)")
    last_delivered_at: datetime | None = Field(description="Since the service started")
    last_error: str | None = Field(description="The latest failed attempt's error")
    last_error_at: datetime | None
    consecutive_failures: int = Field(description="Attempts failed since the last delivery")
    dead_letters_since_start: int = Field(description="Alerts given up since the start")


class AlertsOut(BaseModel):
    channels: list[ChannelOut] = Field(description="In the configuration's order")


class DeadLetterOut(BaseModel):
    """An alert given up: the receiver refused it, or it stayed undelivered for
    `alerting.retry_for`."""

    key: str = Field(description="Its idempotency key: what a resend names")
    channel: str
    attempts: int
    error: str | None = Field(description="The last attempt's error")
    queued_at: datetime
    dead_at: datetime | None
    event: EventOut


class DeadLettersPage(BaseModel):
    dead_letters: list[DeadLetterOut] = Field(description="Newest first")
    next: int | None = Field(
        description="Pass as `before` for the next (older) page; null on the last page"
    )


class ResentOut(BaseModel):
    """A dead letter queued again, behind what its channel's lane already holds."""

    key: str
    channel: str
    state: str = Field(description="Always `pending`: delivered by the channel's task")
    by: str


def channel_out(
    channel: AlertConfig,
    status: ChannelStatus | None,
    counts: dict[str, int],
    in_memory: int,
) -> ChannelOut:
    return ChannelOut(
        name=channel.name,
        type=channel.type,
        target=safe_url(channel.target),
        health=status.health if status is not None else ChannelHealth.DELIVERING,
        pending=counts.get("pending", 0),
        delivered=counts.get("delivered", 0),
        dead=counts.get("dead", 0),
        in_memory=in_memory,
        last_delivered_at=status.last_delivered_at if status else None,
        last_error=status.last_error if status else None,
        last_error_at=status.last_error_at if status else None,
        consecutive_failures=status.consecutive_failures if status else 0,
        dead_letters_since_start=status.dead_letters if status else 0,
    )


def dead_letter_out(row: dict[str, Any]) -> DeadLetterOut:
    """A row of `Store.dead_letters`."""
    finished = row["finished_at"]
    return DeadLetterOut(
        key=row["key"],
        channel=row["channel"],
        attempts=row["attempts"],
        error=row["error"],
        queued_at=datetime.fromtimestamp(row["created_at"], UTC),
        dead_at=datetime.fromtimestamp(finished, UTC) if finished is not None else None,
        event=EventOut.model_validate(row["event"]),
    )
