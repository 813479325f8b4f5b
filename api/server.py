"""Serving the API with uvicorn, for `regionwatch run`, `regionwatch lab` and the tests.

`serving()` runs uvicorn on a listening socket bound beforehand (`api.listener`), with the
connection guard (`api.connections`), inside the caller's event loop. `run_service()` is the
whole life of the service: start it, serve until SIGTERM or SIGINT, stop both within
`STOP_BUDGET` seconds, whatever a dependency is doing, so the process can exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import structlog
import uvicorn
from starlette.types import ASGIApp

from api.app import lifespan_of
from api.connections import (
    HEAD_TIMEOUT,
    ConnectionGuard,
    connection_cap,
    protocol_class,
    raise_open_file_limit,
)
from api.listener import BACKLOG, Listener, bind_listener
from api.stream import StreamHub

__all__ = ["HTTP_DRAIN", "STOP_BUDGET", "Served", "run_service", "serving", "stop_signals"]

log = structlog.get_logger("api.server")

# Kubernetes' default grace period is 30 s; a stop must be over well before, whatever a
# dependency is doing: HTTP_DRAIN for requests in flight, the service's own STOP_GRACE for
# jobs in flight, and the rest for closing the clients and the store.
STOP_BUDGET = 10.0
HTTP_DRAIN = 2  # seconds (uvicorn takes whole seconds)
_STARTUP_DEADLINE = 10.0
_ACCEPT_OUT_OF_RESOURCES = "socket.accept() out of system resource"


@dataclass(frozen=True, slots=True)
class Served:
    base_url: str
    done: asyncio.Task[None]  # ends when uvicorn stops (leaving the block, or a failure)
    guard: ConnectionGuard


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, on_stop: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Before uvicorn waits for the requests in flight: a live stream never ends by itself,
        # and would hold the stop up to the drain deadline, then be cut mid-message.
        if self._on_stop is not None:
            self._on_stop()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The caller owns SIGTERM and SIGINT (`stop_signals`): uvicorn would re-raise them
        # after its clean stop, and the process would die of the signal (exit 143) instead
        # of finishing its own shutdown.
        yield


@asynccontextmanager
async def serving(
    app: ASGIApp,
    *,
    listener: Listener | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    lifespan: Literal["auto", "on", "off"] = "on",
    head_timeout: float = HEAD_TIMEOUT,
    max_connections: int | None = None,
) -> AsyncIterator[Served]:
    """Serve `app` until the block ends; yields once uvicorn listens. Without `listener`,
    binds host:port (port 0: ephemeral). `max_connections` defaults to the cap computed from
    the open-file limit, raised to its hard limit first. Leaving the block stops uvicorn: the
    app's live streams (`app.state.streams`) end at once, and requests in flight get
    HTTP_DRAIN seconds. Raises what stopped uvicorn if it could
    not start."""
    if listener is None:
        listener = bind_listener(host, port)
    if max_connections is None:
        open_files, hard = raise_open_file_limit()
        max_connections = connection_cap(open_files)
        log.info(
            "api_connection_limits",
            open_files=open_files,
            open_files_hard=hard,
            connection_cap=max_connections,
            head_timeout_s=head_timeout,
        )
    guard = ConnectionGuard(cap=max_connections, head_timeout=head_timeout)
    answer = getattr(app, "answer", None)  # the app answers /healthz from memory
    if callable(answer):
        guard.healthz = answer
    listener.guard = guard
    streams = getattr(getattr(app, "state", None), "streams", None)
    server = _Server(
        uvicorn.Config(
            app,
            http=protocol_class(guard),
            ws="none",  # an upgrade would hand the connection to a protocol the guard cannot see
            lifespan=lifespan,
            log_config=None,
            access_log=False,
            backlog=BACKLOG,
            timeout_graceful_shutdown=HTTP_DRAIN,
        ),
        on_stop=streams.close if isinstance(streams, StreamHub) else None,
    )
    with _accept_errors_logged_once(guard):
        task = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            async with asyncio.timeout(_STARTUP_DEADLINE):
                # uvicorn offers a `started` flag, not an event to wait on.
                while not server.started:
                    if task.done():
                        task.result()  # raises the reason it could not start
                        raise RuntimeError("uvicorn stopped before it started")
                    await asyncio.sleep(0.01)
            base_url = f"http://{listener.address}"
            log.info("api_listening", url=base_url)
            yield Served(base_url, task, guard)
        finally:
            server.should_exit = True
            await task
            listener.close()
            guard.flush()


@contextlib.contextmanager
def _accept_errors_logged_once(guard: ConnectionGuard) -> Iterator[None]:
    """asyncio reports every failed accept() to the loop's exception handler, with a
    traceback; the guard has logged the burst already, so those reports are dropped."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _ACCEPT_OUT_OF_RESOURCES:
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    try:
        yield
    finally:
        loop.set_exception_handler(previous)


@asynccontextmanager
async def stop_signals() -> AsyncIterator[asyncio.Event]:
    """While the block runs, SIGTERM and SIGINT set the yielded event instead of ending the
    process; a second one ends it at once (the default action), for when a stop is stuck."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    handled = (signal.SIGTERM, signal.SIGINT)

    def on_signal(received: signal.Signals) -> None:
        if stopping.is_set():
            for sig in handled:
                loop.remove_signal_handler(sig)
            signal.raise_signal(received)
            return
        log.info("stop_requested", signal=received.name)
        stopping.set()

    for sig in handled:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield stopping
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


async def run_service(
    app: ASGIApp,
    listener: Listener,
    *,
    stopping: asyncio.Event | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Enter `app`'s lifespan (which builds and starts the service), serve `app` on
    `listener` until `stopping` is set (by default: until SIGTERM or SIGINT), then stop the
    server and leave the lifespan (stopping the service). Raises what the lifespan raises at
    start (a StoreError) before serving, after closing what it opened. `announce` gets the
    base URL once the server listens."""
    if stopping is None:
        async with stop_signals() as stopping:
            await run_service(app, listener, stopping=stopping, announce=announce)
        return
    try:
        if stopping.is_set():
            return
        async with (
            lifespan_of(app),
            serving(app, listener=listener, lifespan="off") as served,
        ):
            if announce is not None:
                announce(served.base_url)
            until_stopped = asyncio.create_task(stopping.wait())
            try:
                await asyncio.wait({served.done, until_stopped}, return_when="FIRST_COMPLETED")
            finally:
                until_stopped.cancel()
    finally:
        listener.close()
