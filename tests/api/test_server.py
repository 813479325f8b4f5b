"""Serving the API (api/server.py) on real loopback sockets: the request-head timeout, the
connection cap, failed accepts, and the open-file limit."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import resource
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import structlog
from servers import eventually
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.connections import CAP_CEILING, connection_cap
from api.server import Served, serving
from lab.origin import RegionalOrigin
from monitor.config import load_config

ConfigWriter = Callable[..., Path]
HALF_A_HEAD = b"GET /healthz HTTP/1.1\r\nHost: regionwatch\r\n"
HEAD_TIMEOUT = 0.5


class SlowApp:
    """Answers 200 at once, or, for /wait, once `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/wait":
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def served() -> AsyncIterator[tuple[Served, SlowApp]]:
    app = SlowApp()
    async with serving(app, lifespan="off", head_timeout=HEAD_TIMEOUT) as served:
        yield served, app


async def connect(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = served.base_url.removeprefix("http://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def closed_by_server(reader: asyncio.StreamReader, *, within: float = 5.0) -> bool:
    """Reads until the server closes the connection (True), or `within` seconds pass."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    return True


async def test_a_half_sent_request_head_is_closed_after_the_head_timeout(
    served: tuple[Served, SlowApp],
) -> None:
    """A connection that sends part of a request head and idles is closed once the head
    timeout has passed, and not before."""
    loop = asyncio.get_running_loop()
    reader, writer = await connect(served[0])
    started = loop.time()
    writer.write(HALF_A_HEAD)
    assert await closed_by_server(reader)
    assert HEAD_TIMEOUT * 0.8 <= loop.time() - started < HEAD_TIMEOUT + 2
    writer.close()


async def test_the_next_request_head_on_a_kept_alive_connection_is_timed_too(
    served: tuple[Served, SlowApp],
) -> None:
    """After a response, half of the next head (even trickled in) does not keep the
    connection open past the head timeout; the keep-alive timer alone would."""
    reader, writer = await connect(served[0])
    writer.write(b"GET / HTTP/1.1\r\nHost: regionwatch\r\n\r\n")
    assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
    writer.write(b"GET / HTTP/1.1\r\n")
    assert await closed_by_server(reader)
    writer.close()


async def test_a_request_being_answered_is_not_cut_by_the_head_timeout(
    served: tuple[Served, SlowApp],
) -> None:
    """A complete head hands the connection to the app: however long the answer takes, the
    head timeout no longer applies to it."""
    server, app = served
    waiting_reader, waiting_writer = await connect(server)
    waiting_writer.write(b"GET /wait HTTP/1.1\r\nHost: regionwatch\r\n\r\n")
    idle_reader, idle_writer = await connect(server)
    idle_writer.write(HALF_A_HEAD)
    assert await closed_by_server(idle_reader)  # the head timeout has passed for both
    app.release.set()
    assert (await waiting_reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
    waiting_writer.close()
    idle_writer.close()


async def test_over_the_cap_the_connection_waiting_longest_for_a_head_is_closed(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """With the cap reached by half-sent requests, /healthz is still accepted and answered
    200 (never 503), and the connection that waited longest for its head is the one closed."""
    app = create_app(load_config(write_config(two_regions)), schedule=False)
    attackers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    async with serving(app, head_timeout=60, max_connections=4) as served:
        try:
            for count in range(1, 5):
                reader, writer = await connect(served)
                writer.write(HALF_A_HEAD)
                attackers.append((reader, writer))
                await eventually(lambda n=count: served.guard.open == n)  # type: ignore[misc]
            async with httpx.AsyncClient(base_url=served.base_url, timeout=5) as client:
                answer = await client.get("/healthz")
            assert answer.status_code == 200
            assert answer.json() == {"service": "ok"}
            assert await closed_by_server(attackers[0][0])
            assert all(not reader.at_eof() for reader, _ in attackers[1:])
        finally:
            for _, writer in attackers:
                writer.close()


async def test_failed_accepts_are_logged_once_per_burst_not_per_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Out of descriptors, every accept() retry fails: one `accept_failed` line for the burst
    (none of asyncio's per-attempt tracebacks), and its count once it is over."""
    async with serving(SlowApp(), lifespan="off", max_connections=100) as served:
        host, port = served.base_url.removeprefix("http://").rsplit(":", 1)
        with structlog.testing.capture_logs() as logs:
            # Queued by the kernel, not accepted yet: the loop has not run since.
            clients = [socket.create_connection((host, int(port))) for _ in range(3)]
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            lowest_free = os.open(os.devnull, os.O_RDONLY)
            os.close(lowest_free)
            try:
                # Every descriptor below the limit is taken: accept() fails with EMFILE.
                resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
                await eventually(lambda: served.guard.accept_errors.count >= 2, timeout=5)
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            await eventually(lambda: served.guard.open >= 3, timeout=5)
            for client in clients:
                client.close()
            served.guard.flush()
    failed = [e for e in logs if e["event"] == "accept_failed"]
    recovered = [e for e in logs if e["event"] == "accept_recovered"]
    assert len(failed) == 1 and failed[0]["errno"] == 24, logs
    assert len(recovered) == 1 and recovered[0]["events"] >= 2, logs
    assert "out of system resource" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_connection_cap_is_half_the_open_file_limit_up_to_a_ceiling() -> None:
    """Half the descriptors are left to the probes, the store and the clients."""
    assert connection_cap(256) == 128
    assert connection_cap(1024) == 512
    assert connection_cap(1_048_576) == CAP_CEILING


async def test_serving_raises_the_soft_file_limit_and_logs_the_cap() -> None:
    """The soft open-file limit is raised to the hard one before the cap is computed, and
    both are logged."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, hard, 512)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered - 1, hard))
    try:
        with structlog.testing.capture_logs() as logs:
            async with serving(SlowApp(), lifespan="off") as served:
                now_soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
                cap = served.guard.cap
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert now_soft == hard
    assert cap == connection_cap(hard)
    limits = [e for e in logs if e["event"] == "api_connection_limits"]
    assert limits and limits[0]["open_files"] == hard and limits[0]["connection_cap"] == cap


class StuckApp:
    """An app whose every request through the ASGI stack waits until released (its event loop
    free, its request handling saturated), answering "via-asgi"; `/healthz` answered from
    memory says "from-memory"."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.called = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.called += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"via-asgi"})

    def answer(self, region: str | None) -> tuple[int, bytes]:
        return 200, f'{{"from-memory": "{region}"}}'.encode()


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b'{"from-memory": "None"}'),
        (b"GET /healthz?region=westeurope HTTP/1.1\r\n\r\n", b'{"from-memory": "westeurope"}'),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Regionwatch-Region: centralus\r\n\r\n",
            b'{"from-memory": "centralus"}',
        ),
        (b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b""),
    ],
    ids=["plain", "query", "header", "head"],
)
async def test_a_fresh_healthz_request_is_answered_without_the_asgi_stack(
    request_bytes: bytes, expected: bytes
) -> None:
    """With every request of the app stuck (a flood keeping it busy), a fresh connection's
    single `/healthz` request head is still answered, from memory: it never queues behind the
    attackers' requests; the connection then goes on as any other."""
    app = StuckApp()
    async with serving(app, lifespan="off") as served:
        attackers = []
        for _ in range(20):
            reader, writer = await connect(served)
            writer.write(b"GET /docs HTTP/1.1\r\nHost: x\r\n\r\n" * 5)
            attackers.append(writer)
        await eventually(lambda: app.called == 20)
        reader, writer = await connect(served)
        writer.write(request_bytes)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        length = int(re.search(rb"content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
        body = await reader.readexactly(length) if request_bytes.startswith(b"GET") else b""
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"cache-control: no-store" in head
        assert body == expected
        assert app.called == 20  # the app never saw it
        # The connection goes on: its next request is the app's, as any other.
        app.release.set()
        writer.write(b"GET /docs HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"via-asgi"), timeout=5)).startswith(
            b"HTTP/1.1 200 OK"
        )
        writer.close()
        for attacker in attackers:
            attacker.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
        b"GET /healthzz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["pipelined", "post", "another-path", "with-a-body-header"],
)
async def test_anything_but_one_plain_healthz_head_goes_the_usual_way(
    request_bytes: bytes,
) -> None:
    """Pipelined requests, a body, another path: the app answers them, as any request."""
    app = StuckApp()
    app.release.set()
    async with serving(app, lifespan="off") as served:
        reader, writer = await connect(served)
        writer.write(request_bytes)
        first = await asyncio.wait_for(reader.readuntil(b"via-asgi"), timeout=5)
        writer.close()
    assert first.startswith(b"HTTP/1.1 200 OK")


async def test_malformed_requests_are_logged_once_per_burst() -> None:
    """A flood of malformed request heads (each answered 400 by the server) is one
    `invalid_request_received` line, not one warning per connection."""
    async with serving(SlowApp(), lifespan="off") as served:
        with structlog.testing.capture_logs() as logs:
            for _ in range(30):
                reader, writer = await connect(served)
                writer.write(b"NOT HTTP AT ALL\r\n\r\n")
                assert (await asyncio.wait_for(reader.read(), timeout=5)).startswith(
                    b"HTTP/1.1 400"
                )
                writer.close()
            assert served.guard.invalid.count == 30
    assert [e["event"] for e in logs if "invalid" in e["event"]] == ["invalid_request_received"]
