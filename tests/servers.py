"""Running the real ASGI app on a loopback socket, for tests that talk HTTP to it."""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Literal

from starlette.types import ASGIApp

from api.app import create_app
from api.listener import Listener
from api.server import serving as api_serving
from monitor.clock import ManualClock
from monitor.config import Config, load_config
from monitor.service import Service, build_service


@asynccontextmanager
async def serving(
    app: ASGIApp,
    *,
    lifespan: Literal["auto", "on", "off"] = "on",
    listener: Listener | None = None,
) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (an ephemeral port, or `listener` bound
    beforehand); yields the base URL."""
    async with api_serving(app, lifespan=lifespan, listener=listener) as served:
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
    config: Config, *, schedule: bool = True, listener: Listener | None = None, **build: Any
) -> AsyncIterator[tuple[str, Service]]:
    """The real app for `config` on loopback (on `listener` when given: two services that
    name each other bind first), its lifespan building the service (with `build_service`'s
    keyword arguments: a manual clock, a Traffic Manager client) and, with `schedule`,
    starting the rounds. Yields the base URL and the running service."""
    app = create_app(config, build=functools.partial(build_service, **build), schedule=schedule)
    async with serving(app, listener=listener) as url:
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


Hold = Callable[[str], Awaitable[None]]


@contextmanager
def served_in_thread(serve: Callable[[Hold], Awaitable[None]], *, name: str) -> Iterator[str]:
    """For synchronous callers (schemathesis, Playwright): runs `serve(hold)` on an event loop
    of its own in a thread. `serve` sets up what it serves and awaits `hold(url)`, which hands
    `url` to the caller and returns once the caller's block is over. An error before `hold` is
    raised here."""
    started: queue.Queue[str | BaseException] = queue.Queue()
    stop = threading.Event()

    async def hold(url: str) -> None:
        started.put(url)
        while not stop.is_set():
            await asyncio.sleep(0.05)

    def run() -> None:
        try:
            asyncio.run(serve(hold))
        except BaseException as e:  # told to the caller, which would otherwise wait
            started.put(e)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    first = started.get(timeout=30)
    if isinstance(first, BaseException):
        raise first
    try:
        yield first
    finally:
        stop.set()
        thread.join(timeout=30)
