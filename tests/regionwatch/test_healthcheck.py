"""`python -m regionwatch.healthcheck`, the image's health check, as a real process against
real loopback servers: 0 only for a 200 in time, 1 with one line otherwise."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from processes import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def answering(handler: Handler) -> AsyncIterator[str]:
    """A loopback server; yields its /livez URL."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/livez"


def status(code: int) -> Handler:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    return answer


async def healthcheck(url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regionwatch.healthcheck",
        env={**os.environ, "REGIONWATCH_HEALTHCHECK_URL": url},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_a_200_is_healthy() -> None:
    """/livez answering 200: exit 0, nothing printed."""
    async with answering(status(200)) as url:
        assert await healthcheck(url) == (0, "")


async def test_another_status_is_unhealthy_and_says_which() -> None:
    """A 503 is not alive: exit 1, one line naming the status."""
    async with answering(status(503)) as url:
        code, err = await healthcheck(url)
    assert code == 1
    assert err == f"regionwatch healthcheck: {url} answered 503, not 200\n"


async def test_nothing_listening_is_unhealthy() -> None:
    """A refused connection: exit 1, one line saying it could not be asked."""
    url = f"http://127.0.0.1:{free_port()}/livez"
    code, err = await healthcheck(url)
    assert code == 1
    assert err.startswith(f"regionwatch healthcheck: {url} could not be asked: ")
    assert err.count("\n") == 1


async def test_a_url_off_loopback_or_with_credentials_is_refused_unquoted() -> None:
    """Only an http URL on loopback is asked; another is refused (exit 1) without quoting it,
    so a password in it is never printed."""
    for url in ("http://192.0.2.1/livez", "https://127.0.0.1/livez", "http://u:pw-x9@127.0.0.1/"):
        code, err = await healthcheck(url)
        assert code == 1
        assert "must be an http URL on a loopback address" in err
        assert "pw-x9" not in err and "192.0.2.1" not in err
