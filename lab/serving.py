"""Running an ASGI app with uvicorn on a loopback socket inside the caller's event loop:
for `regionwatch lab` and for the tests that talk HTTP to the real app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

__all__ = ["Served", "serving"]

_STARTUP_DEADLINE = 10.0


@dataclass(frozen=True, slots=True)
class Served:
    base_url: str
    done: asyncio.Task[None]  # ends when uvicorn stops (Ctrl-C, SIGTERM, or leaving the block)


@asynccontextmanager
async def serving(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    lifespan: Literal["auto", "on", "off"] = "on",
) -> AsyncIterator[Served]:
    """Serve `app` until the block ends; yields once uvicorn listens (port 0: ephemeral).
    Raises what stopped uvicorn if it could not start."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan=lifespan
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(_STARTUP_DEADLINE):
            # uvicorn offers a `started` flag, not an event to wait on.
            while not server.started:
                if task.done():
                    task.result()  # raises the reason it could not start
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        yield Served(f"http://{host}:{bound}", task)
    finally:
        server.should_exit = True
        await task
