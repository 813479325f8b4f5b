"""The live stream: `GET /api/v1/stream`, server-sent events fed by the engine.

One engine subscriber (the hub) hands every publication to each open stream without waiting:
a stream keeps only the latest snapshot version it has not sent yet (a slow client skips
versions, which is harmless: each message says "fetch again") and queues every event, up to
`StreamSettings.queue`. Events are never skipped silently: a stream whose queue overflows
gets a final `event: reset` (the page reloads) and ends. The engine is never held up by a
client, and the number of open streams is capped (`StreamSettings.limit`).

Messages: `event: snapshot` with `{"version", "made_at"}` (the current one on connecting,
then at most one per `min_interval`), `event: change` with an event as `GET /api/v1/events`
renders it, `event: reset`, and a `: keepalive` comment after `keepalive` seconds of silence.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from api.errors import error_response
from api.models import ErrorOut, event_out
from monitor.engine import Engine, Publication, Subscriber
from monitor.events import Event
from monitor.eventstore import StoredEvent
from monitor.snapshot import Snapshot

__all__ = ["StreamHub", "StreamSettings", "router"]

log = structlog.get_logger("api.stream")


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Limits of the live stream."""

    # A dashboard is watched by a few people at once; past this, a new stream is refused
    # (503) rather than letting streams take the connections the API and /healthz need.
    limit: int = 100
    # Events one stream may have waiting; past this, it is reset (the page reloads).
    queue: int = 256
    # Proxies and browsers drop a connection that is silent for a minute or so.
    keepalive: float = 15.0
    # A page fetches its fragment on each snapshot message: a few per second at most.
    min_interval: float = 0.25


@dataclass(eq=False, slots=True)
class _Stream:
    """One client's pending messages."""

    queue: int
    events: deque[Event] = field(default_factory=deque)
    snapshot: Snapshot | None = None  # the latest not yet sent
    reset: bool = False
    closed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, publication: Publication) -> None:
        if self.reset or self.closed:
            return
        if len(self.events) + len(publication.events) > self.queue:
            self.lose()
            return
        self.events.extend(publication.events)
        self.snapshot = publication.snapshot
        self.wake.set()

    def lose(self) -> None:
        """Something was not delivered: tell the client to start again."""
        self.reset = True
        self.events.clear()
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class StreamHub:
    """The open streams of one app and the engine subscriber that feeds them. Runs on the
    event loop only."""

    def __init__(self, settings: StreamSettings | None = None) -> None:
        self.settings = settings or StreamSettings()
        self._streams: set[_Stream] = set()
        self._subscriber: Subscriber | None = None
        self._dropped = 0
        self._closed = False

    @property
    def open(self) -> int:
        """Streams open now."""
        return len(self._streams)

    def attach(self, engine: Engine) -> None:
        """Subscribe to `engine` (the service's, once it is built); streams open from now."""
        self._closed = False
        self._subscriber = engine.subscribe("stream", self._publish)

    def close(self) -> None:
        """End every open stream and refuse new ones: the server is stopping, and an open
        stream must not hold its stop up to the drain deadline."""
        self._closed = True
        for stream in self._streams:
            stream.close()

    async def _publish(self, publication: Publication) -> None:
        subscriber = self._subscriber
        if subscriber is not None and subscriber.dropped != self._dropped:
            # The hub itself fell behind the engine: publications, events among them, were
            # dropped before any stream saw them.
            self._dropped = subscriber.dropped
            for stream in self._streams:
                stream.lose()
        for stream in self._streams:
            stream.offer(publication)

    def messages(self, first: Snapshot) -> AsyncIterator[str] | None:
        """A new stream's messages, starting with `first`'s version; None when the stream
        cannot be opened (the cap is reached, or the server is stopping)."""
        if self._closed or self._subscriber is None or len(self._streams) >= self.settings.limit:
            return None
        stream = _Stream(self.settings.queue, snapshot=first)
        self._streams.add(stream)
        return self._messages(stream)

    async def _messages(self, stream: _Stream) -> AsyncIterator[str]:
        settings = self.settings
        loop = asyncio.get_running_loop()
        next_snapshot = loop.time()
        silent_since = loop.time()
        try:
            while True:
                stream.wake.clear()
                if stream.closed:
                    return
                if stream.reset:
                    log.info("stream_reset", queue=settings.queue)
                    yield _message("reset", "{}")
                    return
                now = loop.time()
                if stream.events:
                    batch = list(stream.events)
                    stream.events.clear()
                    yield "".join(_message("change", _event_json(e)) for e in batch)
                    silent_since = loop.time()
                    continue
                if stream.snapshot is not None and now >= next_snapshot:
                    snapshot, stream.snapshot = stream.snapshot, None
                    yield _message("snapshot", _snapshot_json(snapshot))
                    next_snapshot = silent_since = loop.time()
                    next_snapshot += settings.min_interval
                    continue
                if now - silent_since >= settings.keepalive:
                    yield ": keepalive\n\n"
                    silent_since = loop.time()
                    continue
                deadline = silent_since + settings.keepalive
                if stream.snapshot is not None:
                    deadline = min(deadline, next_snapshot)
                try:
                    async with asyncio.timeout_at(deadline):
                        await stream.wake.wait()
                except TimeoutError:
                    pass
        finally:
            self._streams.discard(stream)


def _message(kind: str, data: str) -> str:
    return f"event: {kind}\ndata: {data}\n\n"


def _snapshot_json(snapshot: Snapshot) -> str:
    return json.dumps({"version": snapshot.version, "made_at": snapshot.made_at.isoformat()})


def _event_json(event: Event) -> str:
    # The same rendering as `GET /api/v1/events`; its `seq` (the paging cursor) is not shown.
    return event_out(StoredEvent(0, event)).model_dump_json()


router = APIRouter(tags=["stream"])


@router.get(
    "/stream",
    summary="Live: snapshot versions and events, as server-sent events",
    description='`text/event-stream`. `event: snapshot` with `{"version", "made_at"}` when '
    "a new snapshot is published (the current one first; at most a few per second), "
    "`event: change` with each event as `GET /api/v1/events` renders it, `event: reset` "
    "when this client fell too far behind (start again: reload), and a `: keepalive` comment "
    "after 15 s of silence. Reads' authentication applies (the sign-in cookie included). "
    "503 when too many streams are open.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        503: {"model": ErrorOut},
    },
)
async def stream(request: Request) -> Response:
    hub: StreamHub = request.app.state.streams
    service = getattr(request.app.state, "service", None)
    messages = hub.messages(service.snapshot) if service is not None else None
    if messages is None:
        return error_response(
            503,
            f"too many live streams open (at most {hub.settings.limit}), or the service is "
            "stopping; reload later",
            headers={"Retry-After": "10"},
        )
    return StreamingResponse(
        messages,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
