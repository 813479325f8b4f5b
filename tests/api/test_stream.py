"""`GET /api/v1/stream` on a real uvicorn: snapshot versions and events as server-sent events,
many clients, a client that stops reading, keepalives, the cap, and the server's stop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import eventually, serving
from verdicts import START, verdict

from api.app import create_app
from api.server import HTTP_DRAIN
from api.stream import StreamHub, StreamSettings
from lab.origin import RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.evidence import RoundFinished
from monitor.results import RegionStatus
from monitor.service import Service, build_service

ConfigWriter = Callable[..., Path]


@dataclass(frozen=True, slots=True)
class Message:
    event: str  # "comment" for a comment line
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass(frozen=True, slots=True)
class Running:
    url: str
    service: Service
    clock: ManualClock
    hub: StreamHub

    async def flip(self, region: str, status: RegionStatus, *, reason: str = "") -> int:
        """Apply one round of `region` with `status` (and a failed check's `reason`, when
        given); returns the snapshot's version."""
        self.clock.advance(10)
        made = verdict(region, status, self.clock.now())
        if reason:
            results = tuple(dataclasses.replace(r, reason=reason) for r in made.results)
            made = dataclasses.replace(made, reasons=(reason,), results=results)
        return (await self.service.engine.apply(RoundFinished(made))).version


@asynccontextmanager
async def running(
    origins: dict[str, RegionalOrigin], write_config: ConfigWriter, **settings: Any
) -> AsyncIterator[Running]:
    config = load_config(write_config(origins))
    clock = ManualClock(START)
    app = create_app(
        config,
        build=functools.partial(build_service, clock=clock),
        schedule=False,
        stream=StreamSettings(**settings),
    )
    async with serving(app) as url:
        service = app.state.service
        assert isinstance(service, Service)
        yield Running(url, service, clock, app.state.streams)


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    """The messages of an event stream, as they arrive."""
    event, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield Message("comment", line[1:].strip())
        elif line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "":
            yield Message(event, data)
            event, data = "message", ""


@asynccontextmanager
async def opened(client: httpx.AsyncClient) -> AsyncIterator[AsyncIterator[Message]]:
    async with client.stream("GET", "/api/v1/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield messages(response)


async def stalled_stream(url: str) -> socket.socket:
    """A stream opened on a socket that nobody reads (with a small receive buffer, so the
    server's sends stall soon), and that the caller closes."""
    host, port = url.removeprefix("http://").split(":")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(stalled, (host, int(port)))
    request = b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    await loop.sock_sendall(stalled, request)
    return stalled


async def next_of(stream: AsyncIterator[Message], kind: str) -> Message:
    """The next message of `kind`, skipping others."""
    async with asyncio.timeout(10):
        async for message in stream:
            if message.event == kind:
                return message
    raise AssertionError(f"the stream ended before an {kind!r} message")


async def test_a_round_applied_is_announced_with_its_snapshot_version(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A new stream first gets the current snapshot's version; a round applied then is
    announced as `event: snapshot` with the new version and when it was made."""
    async with (
        running(two_regions, write_config) as live,
        httpx.AsyncClient(base_url=live.url) as client,
        opened(client) as stream,
    ):
        first = (await next_of(stream, "snapshot")).json()
        assert first["version"] == live.service.snapshot.version
        version = await live.flip("centralus", RegionStatus.HEALTHY)
        assert version > first["version"]
        announced = (await next_of(stream, "snapshot")).json()
        while announced["version"] < version:
            announced = (await next_of(stream, "snapshot")).json()
        assert announced == {
            "version": version,
            "made_at": live.service.snapshot.made_at.isoformat(),
        }


async def test_an_event_arrives_as_a_change_rendered_like_the_events_api(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A region failing is sent as `event: change`, the event exactly as `GET /api/v1/events`
    renders it."""
    async with (
        running(two_regions, write_config) as live,
        httpx.AsyncClient(base_url=live.url) as client,
        opened(client) as stream,
    ):
        await next_of(stream, "snapshot")
        await live.flip("westeurope", RegionStatus.FAILING)
        change = (await next_of(stream, "change")).json()
        assert (change["type"], change["region"]) == ("region.failing", "westeurope")
        await live.service.engine.settle()
        listed = (await client.get("/api/v1/events")).json()["events"]
        assert change == listed[0]


async def test_twenty_clients_at_once_each_get_every_change_in_order(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Twenty streams open together each get every event, in the order the engine saw them."""
    flips = [
        ("westeurope", RegionStatus.FAILING),
        ("westeurope", RegionStatus.HEALTHY),
        ("centralus", RegionStatus.DEGRADED),
        ("centralus", RegionStatus.HEALTHY),
    ]
    expected = [
        ("region.failing", "westeurope"),
        ("region.recovered", "westeurope"),
        ("region.degraded", "centralus"),
        ("region.recovered", "centralus"),
    ]

    async def watch(client: httpx.AsyncClient, ready: asyncio.Event) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        async with opened(client) as stream:
            await next_of(stream, "snapshot")
            ready.set()
            while len(seen) < len(expected):
                change = (await next_of(stream, "change")).json()
                seen.append((change["type"], change["region"]))
        return seen

    async with (
        running(two_regions, write_config) as live,
        httpx.AsyncClient(base_url=live.url, limits=httpx.Limits(max_connections=30)) as client,
    ):
        readies = [asyncio.Event() for _ in range(20)]
        watchers = [asyncio.create_task(watch(client, ready)) for ready in readies]
        for ready in readies:
            await asyncio.wait_for(ready.wait(), 10)
        assert live.hub.open == 20
        for region, status in flips:
            await live.flip(region, status)
        results = await asyncio.wait_for(asyncio.gather(*watchers), 10)
        assert all(seen == expected for seen in results)
        await eventually(lambda: live.hub.open == 0)


async def test_a_client_that_stops_reading_is_reset_and_never_slows_the_engine(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A client that reads nothing while hundreds of events happen: the engine applies them all
    and a reading client gets every one; the silent client's stream, once it reads again,
    ends with `event: reset` after an unbroken run of the events it was sent (none skipped
    silently)."""
    async with (
        running(two_regions, write_config, queue=32) as live,
        httpx.AsyncClient(base_url=live.url) as client,
        opened(client) as fast,
    ):
        loop = asyncio.get_running_loop()
        slow = await stalled_stream(live.url)
        await eventually(lambda: live.hub.open == 2)
        await next_of(fast, "snapshot")

        async def read_fast() -> int:
            received = 0
            while received < rounds:
                await next_of(fast, "change")
                received += 1
            return received

        # Events large enough that a few hundred fill the socket's buffers, as a stalled
        # client's would after hours of small ones.
        rounds = 200
        reader = asyncio.create_task(read_fast())
        for i in range(rounds):
            status = RegionStatus.FAILING if i % 2 == 0 else RegionStatus.HEALTHY
            await live.flip("westeurope", status, reason="x" * 30_000)
        assert await asyncio.wait_for(reader, 10) == rounds
        # The slow client reads only now: what it was sent, then the reset, then the end.
        chunks = []
        with slow:
            while chunk := await asyncio.wait_for(loop.sock_recv(slow, 65536), 10):
                chunks.append(chunk)
        text = b"".join(chunks).decode()
        assert "event: reset" in text
        kinds = [
            json.loads(line.removeprefix("data: "))["type"]
            for line in text.splitlines()
            if line.startswith('data: {"id"')
        ]
        expected = ["region.failing", "region.recovered"] * rounds
        assert kinds == expected[: len(kinds)]
        assert len(kinds) < rounds


async def test_a_silent_stream_gets_keepalive_comments(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """When nothing happens, a `: keepalive` comment keeps proxies from closing the stream."""
    async with (
        running(two_regions, write_config, keepalive=0.05) as live,
        httpx.AsyncClient(base_url=live.url) as client,
        opened(client) as stream,
    ):
        await next_of(stream, "snapshot")
        assert (await next_of(stream, "comment")).data == "keepalive"


async def test_streams_over_the_cap_are_refused_with_503(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Past the cap a new stream is refused (503, Retry-After, the API's error shape); once
    one closes, a new one opens."""
    async with (
        running(two_regions, write_config, limit=2) as live,
        httpx.AsyncClient(base_url=live.url) as client,
        opened(client) as one,
        opened(client) as two,
    ):
        await next_of(one, "snapshot")
        await next_of(two, "snapshot")
        refused = await client.get("/api/v1/stream")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "10"
        assert refused.json()["error"] == "unavailable"
        assert "at most 2" in refused.json()["detail"]


async def test_a_stream_closed_by_its_client_frees_its_place(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A client that goes away frees its place under the cap."""
    async with (
        running(two_regions, write_config, limit=1) as live,
        httpx.AsyncClient(base_url=live.url) as client,
    ):
        async with opened(client) as stream:
            await next_of(stream, "snapshot")
        await eventually(lambda: live.hub.open == 0)
        async with opened(client) as stream:
            await next_of(stream, "snapshot")


async def test_stopping_the_server_ends_open_streams_cleanly_within_the_drain(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Open streams end whole (no message cut) as soon as the server stops, and a stream whose
    client stopped reading is dropped, well inside the drain deadline, instead of holding the
    stop and being cut at it with an error."""
    loop = asyncio.get_running_loop()

    async def read_to_end(client: httpx.AsyncClient, ready: asyncio.Event) -> int:
        count = 0
        async with opened(client) as stream:
            async for _ in stream:
                count += 1
                ready.set()
        return count

    async with httpx.AsyncClient() as client, contextlib.AsyncExitStack() as stack:
        async with running(two_regions, write_config) as live:
            client.base_url = httpx.URL(live.url)
            readies = [asyncio.Event() for _ in range(3)]
            readers = [asyncio.create_task(read_to_end(client, r)) for r in readies]
            for ready in readies:
                await asyncio.wait_for(ready.wait(), 10)
            stalled = stack.enter_context(await stalled_stream(live.url))
            await eventually(lambda: live.hub.open == 4)
            # Enough for the stalled client's buffers to fill, within its queue.
            for i in range(150):
                status = RegionStatus.FAILING if i % 2 == 0 else RegionStatus.HEALTHY
                await live.flip("westeurope", status, reason="x" * 30_000)
            stopping = loop.time()
        stopped = loop.time() - stopping
        counts = await asyncio.wait_for(asyncio.gather(*readers), 10)
        assert stalled.fileno() >= 0  # still open, still not reading
    assert all(count >= 1 for count in counts)
    assert stopped < HTTP_DRAIN
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_stream_is_in_the_openapi_document(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """The stream is documented as text/event-stream, with its 503."""
    async with (
        running(two_regions, write_config) as live,
        httpx.AsyncClient(base_url=live.url) as client,
    ):
        operation = (await client.get("/openapi.json")).json()["paths"]["/api/v1/stream"]["get"]
        assert "text/event-stream" in operation["responses"]["200"]["content"]
        assert "503" in operation["responses"]
