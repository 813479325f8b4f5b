"""The generic signed webhook: a versioned JSON payload (docs/alerts.md), POSTed, signed.

The signature is HMAC-SHA256 with the channel's secret over `<timestamp>.<body>`, sent as
`X-Regionwatch-Signature: sha256=<hex>` with the timestamp (Unix seconds) in
`X-Regionwatch-Timestamp`, so a receiver can verify the body and refuse an old replay.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from monitor.alerts.delivery import Channel, dumps
from monitor.alerts.notifier import Alert
from monitor.clock import Clock

__all__ = ["PAYLOAD_VERSION", "WebhookNotifier", "payload", "signature"]

PAYLOAD_VERSION = 1


def payload(message: Alert) -> dict[str, Any]:
    """The documented JSON body of a webhook alert."""
    return {
        "version": PAYLOAD_VERSION,
        "id": message.key,
        "channel": message.channel,
        "event": dict(message.event),
        "link": message.link,
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` with `secret`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookNotifier:
    """One channel of type `webhook`. `timeout` bounds one attempt, connecting included."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        clock: Clock,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._secret = secret
        self._clock = clock
        self._channel = Channel("webhook", name, url, clock=clock, headers=headers, timeout=timeout)

    async def send(self, message: Alert) -> None:
        body = dumps(payload(message))
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {"Idempotency-Key": message.key, "X-Regionwatch-Timestamp": timestamp}
        if self._secret:
            headers["X-Regionwatch-Signature"] = signature(self._secret, timestamp, body)
        await self._channel.post(body, headers)

    async def aclose(self) -> None:
        await self._channel.aclose()
