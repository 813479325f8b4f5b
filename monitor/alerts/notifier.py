"""The notifier seam: one delivery attempt of one alert to one channel.

A notifier never retries: the dispatcher owns retries, so their order, backoff and budget are
one policy for every kind. It raises `NotifyError` saying whether another attempt may succeed;
its message never carries a secret (a webhook URL's path, a signing key, a routing key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Alert", "Notifier", "NotifyError"]


@dataclass(frozen=True, slots=True)
class Alert:
    """What a channel is asked to send: one stored event, as JSON, under the idempotency key
    the receiver deduplicates on (the same on every attempt, and after a restart)."""

    key: str
    channel: str
    event: Mapping[str, Any]
    link: str | None = None


class NotifyError(Exception):
    """One attempt failed. `retryable`: a timeout, a connection failure, 5xx or 429;
    `retry_after`: the seconds the receiver asked for (`Retry-After`), when it did."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Notifier(Protocol):
    name: str

    async def send(self, message: Alert) -> None:
        """Deliver `message` once; return when the receiver accepted it, or raise
        `NotifyError`."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
