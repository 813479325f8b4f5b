"""The generic signed webhook: a versioned JSON payload (docs/alerts.md), POSTed, signed.

The signature is HMAC-SHA256 with the channel's secret over `<timestamp>.<body>`, sent as
`X-Regionwatch-Signature: sha256=<hex>` with the timestamp (Unix seconds) in
`X-Regionwatch-Timestamp`, so a receiver can verify the body and refuse an old replay.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import httpx

from monitor.alerts.notifier import Alert, NotifyError, safe_url
from monitor.clock import Clock

__all__ = ["PAYLOAD_VERSION", "WebhookNotifier", "payload", "signature"]

PAYLOAD_VERSION = 1
# Statuses worth another attempt: the receiver is overloaded, restarting, or asked us to wait.
_RETRYABLE = frozenset({408, 425, 429})


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
        self._url = url
        self._secret = secret
        self._headers = dict(headers or {})
        self._clock = clock
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def send(self, message: Alert) -> None:
        body = json.dumps(payload(message), separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            "Idempotency-Key": message.key,
            "X-Regionwatch-Timestamp": timestamp,
        }
        if self._secret:
            headers["X-Regionwatch-Signature"] = signature(self._secret, timestamp, body)
        where = f"webhook {self.name} ({safe_url(self._url)})"
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise NotifyError(f"{where}: timed out", retryable=True) from None
        except httpx.TransportError as e:
            # The class only: httpx's text may quote the URL, whose path is the secret.
            raise NotifyError(
                f"{where}: could not connect ({type(e).__name__})", retryable=True
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        retryable = status >= 500 or status in _RETRYABLE
        raise NotifyError(
            f"{where}: answered HTTP {status}",
            retryable=retryable,
            retry_after=_retry_after(response.headers.get("Retry-After"), self._clock)
            if retryable
            else None,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def _retry_after(value: str | None, clock: Clock) -> float | None:
    """`Retry-After` in seconds: a number of seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock.now()).total_seconds())
