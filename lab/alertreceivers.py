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
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

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
# PagerDuty's Change Events path beside its Events API path: facts (an endpoint disabled) go there.
PAGERDUTY_CHANGE_PATH = "/v2/change/enqueue"
# Seconds a receiver that is down asks the sender to wait: short, so an alert arrives within
# moments of the receiver coming back, as a person watching the lab expects.
DOWN_RETRY_AFTER = 2
# The signature's freshness window of docs/alerts.md: an older timestamp is a replay.
_FRESH_FOR = 300
_EVENT_ID = re.compile(r"· event (\w+)")


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted message, read as a person or the service would: the event's type, region,
    summary and time, the key the sender deduplicates on (the webhook's `Idempotency-Key`,
    PagerDuty's `dedup_key`; Slack and Teams have none), the event's id where the message shows
    it, PagerDuty's `action` (`trigger`, `resolve`), whether the same message came before, and
    (webhook) whether the signature verified."""

    type: str | None
    region: str | None
    summary: str | None
    key: str | None
    event_id: str | None
    at: str | None
    received_at: str
    duplicate: bool
    verified: bool | None = None
    action: str | None = None


@dataclass(frozen=True, slots=True)
class _Read:
    """What a kind's reader found in one message."""

    type: str | None = None
    region: str | None = None
    summary: str | None = None
    key: str | None = None
    event_id: str | None = None
    at: str | None = None
    action: str | None = None


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

    def take(self, headers: Mapping[str, str], body: bytes, *, change: bool = False) -> Received:
        """Record one request's alert (`change`: a PagerDuty change event); raises ValueError
        when the body is not what the kind takes (answered 400, as the real service would)."""
        try:
            document = json.loads(body)
        except ValueError:
            raise ValueError("the body is not JSON") from None
        if not isinstance(document, dict):
            raise ValueError("the body is not a JSON object")
        if self.kind == "webhook":
            read = _read_webhook(document, headers)
        elif self.kind == "slack":
            read = _read_slack(document)
        elif self.kind == "teams":
            read = _read_teams(document)
        elif change:
            read = _read_pagerduty_change(document)
        else:
            read = _read_pagerduty(document, self.received)
        identity = (read.action, read.key, read.event_id)
        record = Received(
            type=read.type,
            region=read.region,
            summary=read.summary,
            key=read.key,
            event_id=read.event_id,
            at=read.at,
            received_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            duplicate=(read.key or read.event_id) is not None
            and any((r.action, r.key, r.event_id) == identity for r in self.received),
            verified=self._verified(headers, body) if self.kind == "webhook" else None,
            action=read.action,
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
        if receiver.kind == "pagerduty":
            router.add_api_route(
                f"/{receiver.name}{PAGERDUTY_CHANGE_PATH}",
                _receive(receiver, change=True),
                methods=["POST"],
                summary=f"The lab's PagerDuty change events for channel {receiver.name}",
                response_class=Response,
            )
    return router


def _receive(receiver: AlertReceiver, *, change: bool = False) -> Any:
    async def receive(request: Request) -> Response:
        if receiver.down:
            receiver.refused += 1
            return PlainTextResponse(
                "receiver down (the lab's fault)",
                status_code=503,
                headers={"Retry-After": str(DOWN_RETRY_AFTER)},
            )
        try:
            record = receiver.take(request.headers, await request.body(), change=change)
        except ValueError as e:
            if receiver.kind == "slack":
                return PlainTextResponse("invalid_payload", status_code=400)
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


def _read_webhook(document: Mapping[str, Any], headers: Mapping[str, str]) -> _Read:
    """Payload version 1 (docs/alerts.md): the event object, keyed by `Idempotency-Key`."""
    event = document.get("event")
    event = event if isinstance(event, dict) else {}
    return _Read(
        type=_text(event.get("type")),
        region=_text(event.get("region")),
        summary=_text(event.get("summary")),
        key=headers.get("idempotency-key") or _text(document.get("id")),
        event_id=_text(event.get("id")),
        at=_text(event.get("at")),
    )


def _read_slack(document: Mapping[str, Any]) -> _Read:
    """A Block Kit message: the fallback `text` as the summary, the section's `*Title*\nvalue`
    fields for the event type and region, and the context line naming the event."""
    if not document.get("text") and not document.get("blocks"):
        raise ValueError("neither text nor blocks")
    fields: dict[str, str] = {}
    lines: list[str] = []
    for block in _dicts(document.get("blocks")):
        for item in _dicts(block.get("fields")):
            title, _, value = str(item.get("text", "")).partition("\n")
            fields[title.strip("*")] = value
        for element in _dicts(block.get("elements")):
            lines.append(str(element.get("text", "")))
    return _Read(
        type=fields.get("Event"),
        region=_region(fields.get("Region")),
        summary=_text(document.get("text")),
        event_id=_event_id(lines),
    )


def _read_teams(document: Mapping[str, Any]) -> _Read:
    """An Adaptive Card in a Workflows `message`: its first text block as the summary, the
    fact set for the event type and region, and the last text block naming the event."""
    texts: list[str] = []
    facts: dict[str, str] = {}
    for attachment in _dicts(document.get("attachments")):
        content = attachment.get("content")
        for item in _dicts(content.get("body") if isinstance(content, dict) else None):
            if item.get("type") == "TextBlock":
                texts.append(str(item.get("text", "")))
            for fact in _dicts(item.get("facts")):
                facts[str(fact.get("title"))] = str(fact.get("value"))
    if not texts:
        raise ValueError("expected a message with an Adaptive Card attachment")
    return _Read(
        type=facts.get("Event"),
        region=_region(facts.get("Region")),
        summary=texts[0],
        event_id=_event_id(texts),
    )


def _read_pagerduty(document: Mapping[str, Any], earlier: Sequence[Received]) -> _Read:
    """An Events API v2 event, checked as PagerDuty checks it. A trigger carries the event
    (`payload.class`, `component`, `summary`, `custom_details.event_id`); a resolve only the
    `dedup_key` of the incident it ends, so its region and summary are the trigger's."""
    if not document.get("routing_key"):
        raise ValueError("routing_key is missing")
    action = document.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        raise ValueError("event_action must be trigger, acknowledge or resolve")
    key = _text(document.get("dedup_key"))
    payload = document.get("payload")
    if action != "trigger":
        opened = next((r for r in earlier if r.key == key and r.action == "trigger"), None)
        return _Read(
            region=opened.region if opened else None,
            summary=f"{action}: {opened.summary}" if opened else action,
            key=key,
            action=action,
        )
    if not isinstance(payload, dict) or not payload.get("summary"):
        raise ValueError("payload.summary is missing")
    details = payload.get("custom_details")
    return _Read(
        type=_text(payload.get("class")),
        region=_text(payload.get("component")),
        summary=_text(payload.get("summary")),
        key=key,
        event_id=_text(details.get("event_id")) if isinstance(details, dict) else None,
        at=_text(payload.get("timestamp")),
        action=action,
    )


def _read_pagerduty_change(document: Mapping[str, Any]) -> _Read:
    """A Change Events v2 event: a fact, shown on the service's timeline (`action` "change")."""
    if not document.get("routing_key"):
        raise ValueError("routing_key is missing")
    payload = document.get("payload")
    if not isinstance(payload, dict) or not payload.get("summary"):
        raise ValueError("payload.summary is missing")
    details = payload.get("custom_details")
    details = details if isinstance(details, dict) else {}
    return _Read(
        type=_text(details.get("type")),
        region=_text(details.get("region")),
        summary=_text(payload.get("summary")),
        event_id=_text(details.get("event_id")),
        at=_text(payload.get("timestamp")),
        action="change",
    )


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _region(value: str | None) -> str | None:
    return None if value in (None, "-") else value


def _event_id(lines: Sequence[str]) -> str | None:
    """The event's id from a line such as `regionwatch-0 · event 3f1c9a0d5e7b4c21a8e6`."""
    for line in lines:
        found = _EVENT_ID.search(line)
        if found:
            return found.group(1)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
