"""Running the real ASGI app on a loopback socket, for tests that talk HTTP to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from starlette.types import ASGIApp

from api.server import serving as api_serving


@asynccontextmanager
async def serving(
    app: ASGIApp, *, lifespan: Literal["auto", "on", "off"] = "on"
) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (an ephemeral port); yields the base URL."""
    async with api_serving(app, lifespan=lifespan) as served:
        yield served.base_url


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
