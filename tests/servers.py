"""Running the real ASGI app on a loopback socket, for tests that talk HTTP to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp


@asynccontextmanager
async def serving(app: ASGIApp, *, lifespan: str = "on") -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (an ephemeral port); yields the base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan=lifespan
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # raises the reason it could not start
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def eventually(condition: object, *, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll `condition()` (sync or async) until it is true, or fail at the deadline."""
    async with asyncio.timeout(timeout):
        while True:
            value = condition()  # type: ignore[operator]
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
            await asyncio.sleep(interval)
