"""One HTTP attempt for a channel: POST a body, and say what the answer means.

Every kind (webhook, Slack, Teams, PagerDuty) shares it, so they all classify answers one way:
2xx delivered; a timeout, a connection failure, an answer that cannot be read, 5xx, 408, 425
or 429 worth another attempt (after the `Retry-After` asked for); any other answer final. What it raises names the channel by
kind, name and `safe_url` only: a channel's URL path and its keys are secrets.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC

import httpx

from monitor.alerts.notifier import Alert, NotifyError
from monitor.clock import Clock
from monitor.redaction import safe_url

__all__ = ["RETRYABLE_STATUSES", "Channel", "JsonNotifier", "dumps", "retry_after"]

# Statuses worth another attempt: the receiver is overloaded, restarting, or asked us to wait.
RETRYABLE_STATUSES = frozenset({408, 425, 429})
# What a receiver's refusal may add to our message: an error code such as Slack's
# `invalid_payload`, or a sentence without digits (PagerDuty's "Event object is invalid"). Never
# more: a body that echoed the request could carry a key.
_CODE = re.compile(r"[a-z_]{1,64}")
_SENTENCE = re.compile(r"[A-Za-z][A-Za-z ,.'-]{0,119}")


class Channel:
    """The HTTP side of one channel of `kind`: its client, its URL, the headers it always sends.
    `timeout` bounds one attempt, connecting included; redirects are not followed (a webhook
    that moved is a configuration to fix, not a place to send alerts)."""

    def __init__(
        self,
        kind: str,
        name: str,
        url: str,
        *,
        clock: Clock,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.where = f"{kind} {name} ({safe_url(url)})"
        self._url = url
        self._headers = dict(headers or {})
        self._clock = clock
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def post(self, body: bytes, headers: Mapping[str, str] | None = None) -> int:
        """POST `body` as JSON once; the status when 2xx, else `NotifyError`."""
        sent = {**self._headers, **(headers or {}), "Content-Type": "application/json"}
        try:
            response = await self._client.post(self._url, content=body, headers=sent)
        except httpx.TimeoutException:
            raise NotifyError(f"{self.where}: timed out", retryable=True) from None
        except httpx.TransportError as e:
            # The class only: httpx's text may quote the URL, whose path is the secret.
            raise NotifyError(
                f"{self.where}: could not connect ({type(e).__name__})", retryable=True
            ) from None
        except httpx.HTTPError as e:
            # Any other failure of the exchange (an answer that cannot be decoded): the
            # receiver may not have taken it, so it is tried again like a lost connection.
            raise NotifyError(
                f"{self.where}: failed ({type(e).__name__})", retryable=True
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return status
        retryable = status >= 500 or status in RETRYABLE_STATUSES
        said = _said(response.text)
        raise NotifyError(
            f"{self.where}: answered HTTP {status}" + (f" ({said})" if said else ""),
            retryable=retryable,
            retry_after=retry_after(response.headers.get("Retry-After"), self._clock)
            if retryable
            else None,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


class JsonNotifier:
    """A channel whose every alert is one JSON document POSTed to its URL (Slack, Teams): the
    kind is its `payload` function."""

    def __init__(
        self,
        kind: str,
        name: str,
        url: str,
        payload: Callable[[Alert], object],
        *,
        clock: Clock,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._payload = payload
        self._channel = Channel(kind, name, url, clock=clock, headers=headers, timeout=timeout)

    async def send(self, message: Alert) -> None:
        await self._channel.post(dumps(self._payload(message)))

    async def aclose(self) -> None:
        await self._channel.aclose()


def dumps(document: object) -> bytes:
    """The compact JSON bytes of a body (the same bytes a signature is computed over)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def retry_after(value: str | None, clock: Clock) -> float | None:
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


def _said(text: str) -> str | None:
    """The receiver's reason, when its body is one of the shapes `_CODE` and `_SENTENCE` allow."""
    text = text.strip()
    if _CODE.fullmatch(text):
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return None
    message = document.get("message") if isinstance(document, dict) else None
    if isinstance(message, str) and _SENTENCE.fullmatch(message.strip()):
        return message.strip()
    return None
