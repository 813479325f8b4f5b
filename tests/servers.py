"""Running the real ASGI app on a loopback socket, for tests that talk HTTP to it."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from starlette.types import ASGIApp

from api.app import create_app
from api.server import serving as api_serving
from monitor.clock import ManualClock
from monitor.config import Config, load_config
from monitor.service import Service, build_service


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


@asynccontextmanager
async def serving_service(
    config: Config, *, schedule: bool = True, **build: Any
) -> AsyncIterator[tuple[str, Service]]:
    """The real app for `config` on loopback, its lifespan building the service (with
    `build_service`'s keyword arguments: a manual clock, a Traffic Manager client) and, with
    `schedule`, starting the rounds. Yields the base URL and the running service."""
    app = create_app(config, build=functools.partial(build_service, **build), schedule=schedule)
    async with serving(app) as url:
        service = app.state.service
        assert isinstance(service, Service)
        yield url, service


@asynccontextmanager
async def service_with_token(
    write_config: Callable[..., Path],
    origins: Any,
    token: str,
    *,
    clock: ManualClock | None = None,
    **sections: Any,
) -> AsyncIterator[tuple[str, Service]]:
    """The real app on loopback for `origins` with `api.token` `token` (and `sections` of
    configuration), no schedule, on `clock` (a manual one at `verdicts.START` by default): for
    the commands a person runs against a service. Yields the base URL and the service."""
    from verdicts import START

    api = {"listen": "127.0.0.1:0", "token": token}
    config = load_config(write_config(origins, api=api, **sections))
    clock = clock or ManualClock(START)
    async with serving_service(config, schedule=False, clock=clock) as served:
        yield served
