"""The lab's alert receivers: a signed webhook, a Slack-like, a Teams-like and a PagerDuty-like
endpoint on the lab's own port, recording what each was sent, and a fault that takes one down.

They live under the fault panel (`/lab/alerts`), so the service's channels point back at the
process they run in: nothing to start, nothing to leave behind. Each answers as the service it
stands for does (Slack 200 `ok`, Teams 202, PagerDuty 202 with its JSON), so a notifier written
against the real one works here. A receiver taken down answers 503 with `Retry-After`, as a
service in maintenance would: the service's alerts wait in its outbox and arrive once it is up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from monitor.events import EventType

__all__ = [
    "DOWN_RETRY_AFTER",
    "KIND_PATHS",
    "AlertReceiver",
    "AlertReceivers",
    "Kind",
    "Received",
    "alert_routes",
]

Kind = Literal["webhook", "slack", "teams", "pagerduty"]

# Where each kind receives, under /lab/alerts/<channel>: PagerDuty's is its Events API v2 path.
KIND_PATHS: Mapping[Kind, str] = {
    "webhook": "/hook",
    "slack": "/services/lab",
    "teams": "/workflows/lab",
    "pagerduty": "/v2/enqueue",
}
# Seconds a receiver that is down asks the sender to wait: short, so an alert arrives within
# moments of the receiver coming back, as a person watching the lab expects.
DOWN_RETRY_AFTER = 2
# The signature's freshness window of docs/alerts.md: an older timestamp is a replay.
_FRESH_FOR = 300
_EVENT_TYPES = frozenset(t.value for t in EventType)


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted request, as far as the lab could read it: the event's type, region, summary
    and time, the idempotency key, whether the key was seen before, and (webhook) whether the
    signature verified."""

    type: str | None
    region: str | None
    summary: str | None
    key: str | None
    at: str | None
    received_at: str
    duplicate: bool
    verified: bool | None = None


@dataclass(slots=True)
class AlertReceiver:
    """One channel's receiver. `secret` (webhook) is the key its signatures are checked with."""

    name: str
    kind: Kind
    secret: str | None = None
    down: bool = False
    refused: int = 0
    received: list[Received] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/lab/alerts/{self.name}{KIND_PATHS[self.kind]}"

    def take(self, headers: Mapping[str, str], body: bytes) -> Received:
        """Record one request's alert; raises ValueError when the body is not what the kind
        takes (answered 400, as the real service would)."""
        try:
            document = json.loads(body)
        except ValueError:
            raise ValueError("the body is not JSON") from None
        if not isinstance(document, dict):
            raise ValueError("the body is not a JSON object")
        verified = self._verified(headers, body) if self.kind == "webhook" else None
        if self.kind == "pagerduty":
            _check_pagerduty(document)
        event = _event_in(document) or {}
        key = headers.get("idempotency-key") or _text(document.get("id"))
        if key is None and self.kind == "pagerduty":
            key = _text(document.get("dedup_key"))
        summary = _text(event.get("summary")) or _summary_of(self.kind, document)
        record = Received(
            type=_text(event.get("type")),
            region=_text(event.get("region")),
            summary=summary,
            key=key,
            at=_text(event.get("at")),
            received_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            duplicate=key is not None and any(r.key == key for r in self.received),
            verified=verified,
        )
        self.received.append(record)
        return record

    def _verified(self, headers: Mapping[str, str], body: bytes) -> bool:
        """The check docs/alerts.md gives a receiver, written from the documentation (not the
        sender's code): HMAC-SHA256 of `<timestamp>.<body>`, in constant time, and fresh."""
        timestamp = headers.get("x-regionwatch-timestamp", "")
        given = headers.get("x-regionwatch-signature", "")
        if not self.secret or not timestamp.isdigit() or not given:
            return False
        mac = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        expected = f"sha256={mac.hexdigest()}"
        return hmac.compare_digest(expected, given) and abs(time.time() - int(timestamp)) < (
            _FRESH_FOR
        )

    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "down": self.down,
            "refused": self.refused,
            "received": [asdict(r) for r in self.received],
        }


class AlertReceivers:
    """The lab's receivers by channel name."""

    def __init__(self, receivers: Sequence[AlertReceiver]) -> None:
        self.by_name = {r.name: r for r in receivers}

    def channels(self, base_url: str, *, routing_key: str) -> list[dict[str, Any]]:
        """The `alerts` configuration pointing one channel at each receiver."""
        channels = []
        for receiver in self.by_name.values():
            channel: dict[str, Any] = {
                "name": receiver.name,
                "type": receiver.kind,
                "url": base_url + receiver.path,
            }
            if receiver.secret:
                channel["secret"] = receiver.secret
            if receiver.kind == "pagerduty":
                channel["routing_key"] = routing_key
            channels.append(channel)
        return channels

    def summary(self) -> dict[str, Any]:
        """For the fault panel's overview: per channel, down or not and how many arrived."""
        return {
            name: {"down": r.down, "received": len(r.received), "refused": r.refused}
            for name, r in self.by_name.items()
        }


def alert_routes(receivers: AlertReceivers) -> APIRouter:
    """`/alerts` (under the fault panel's `/lab`): each receiver, what they got, down and up."""
    router = APIRouter(prefix="/alerts")

    def receiver_of(name: str) -> AlertReceiver:
        if name not in receivers.by_name:
            known = ", ".join(receivers.by_name) or "none"
            raise HTTPException(404, f"unknown alert channel {name!r}; channels: {known}")
        return receivers.by_name[name]

    @router.get("", summary="What each lab alert receiver got, in order of arrival")
    async def received() -> dict[str, Any]:
        return {"channels": {name: r.state() for name, r in receivers.by_name.items()}}

    @router.post(
        "/{channel}/down",
        summary="Take an alert receiver down: it answers 503 (Retry-After) until brought up",
        description="The service's alerts to that channel wait in its outbox, retried, and "
        "arrive in order once the receiver is up again.",
    )
    async def down(channel: str) -> dict[str, Any]:
        receiver = receiver_of(channel)
        receiver.down = True
        return receiver.state()

    @router.post("/{channel}/up", summary="Bring an alert receiver back up")
    async def up(channel: str) -> dict[str, Any]:
        receiver = receiver_of(channel)
        receiver.down = False
        return receiver.state()

    for receiver in receivers.by_name.values():
        router.add_api_route(
            receiver.path.removeprefix("/lab/alerts"),
            _receive(receiver),
            methods=["POST"],
            summary=f"The lab's {receiver.kind} receiver for channel {receiver.name}",
            response_class=Response,
        )
    return router


def _receive(receiver: AlertReceiver) -> Any:
    async def receive(request: Request) -> Response:
        if receiver.down:
            receiver.refused += 1
            return PlainTextResponse(
                "receiver down (the lab's fault)",
                status_code=503,
                headers={"Retry-After": str(DOWN_RETRY_AFTER)},
            )
        try:
            record = receiver.take(request.headers, await request.body())
        except ValueError as e:
            return JSONResponse({"status": "invalid event", "message": str(e)}, status_code=400)
        return _accepted(receiver.kind, record)

    return receive


def _accepted(kind: Kind, record: Received) -> Response:
    """What the real service answers an accepted message."""
    if kind == "slack":
        return PlainTextResponse("ok")
    if kind == "teams":
        return Response(status_code=202)
    if kind == "pagerduty":
        body = {"status": "success", "message": "Event processed", "dedup_key": record.key}
        return JSONResponse(body, status_code=202)
    return JSONResponse({"received": record.key})


def _check_pagerduty(document: Mapping[str, Any]) -> None:
    """What PagerDuty's Events API v2 refuses with 400."""
    if not document.get("routing_key"):
        raise ValueError("routing_key is missing")
    if document.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        raise ValueError("event_action must be trigger, acknowledge or resolve")


def _event_in(document: Any) -> dict[str, Any] | None:
    """The regionwatch event a message carries: the first object, depth first, whose `type` is
    an event type (a webhook's `event`; what a chat or paging message keeps in its details)."""
    if isinstance(document, dict):
        if document.get("type") in _EVENT_TYPES:
            return document
        children: list[Any] = list(document.values())
    elif isinstance(document, list):
        children = document
    else:
        return None
    for child in children:
        found = _event_in(child)
        if found is not None:
            return found
    return None


def _summary_of(kind: Kind, document: Mapping[str, Any]) -> str | None:
    """A message's headline when it carries no event object: Slack's `text`, PagerDuty's
    `payload.summary`, a Teams card's first text block."""
    if kind == "pagerduty":
        payload = document.get("payload")
        return _text(payload.get("summary")) if isinstance(payload, dict) else None
    if kind == "slack":
        return _text(document.get("text"))
    return _first_text(document)


def _first_text(document: Any) -> str | None:
    if isinstance(document, dict):
        if document.get("type") == "TextBlock":
            return _text(document.get("text"))
        children: list[Any] = list(document.values())
    elif isinstance(document, list):
        children = document
    else:
        return None
    for child in children:
        found = _first_text(child)
        if found is not None:
            return found
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
