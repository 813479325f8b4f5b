"""The lab resolver's DNS listeners on loopback: UDP and TCP on one port (RFC 1035 §4.2,
RFC 7766), and DNS over TLS on another (RFC 7858: TLS, then the same two-byte length framing).

Each runs as tasks of the caller's loop; `stop()` closes every socket and ends every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import struct
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from lab.resolvers.log import Transport

__all__ = ["Answerer", "DnsListeners"]

_log = logging.getLogger(__name__)

# The wire answer to a wire query, or None for no answer at all (a silent resolver): UDP sends
# nothing, a stream connection stays open, unanswered, until the client gives up.
Answerer = Callable[[bytes, Transport], Awaitable[bytes | None]]

_IDLE_TIMEOUT = 30.0  # RFC 7766 §6.2.3: servers close idle connections after some seconds
_HANDSHAKE_TIMEOUT = 5.0
_BIND_ATTEMPTS = 20


class DnsListeners:
    """UDP and TCP on `host:port` (0: one free port for both), DoT on `host:dot_port` when a
    server TLS context is given."""

    def __init__(
        self,
        answer: Answerer,
        *,
        host: str,
        port: int = 0,
        dot_port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.answer = answer
        self._host = host
        self._port = port
        self._dot_port = dot_port
        self._tls = tls
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_closed: asyncio.Future[None] | None = None
        self._tcp: asyncio.Server | None = None
        self._dot: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return self._port

    @property
    def dot_port(self) -> int:
        return self._dot_port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for attempt in range(_BIND_ATTEMPTS):
            closed: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(_Udp, self, closed), local_addr=(self._host, self._port)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._accept_tcp, self._host, port)
            except OSError:
                transport.close()
                await closed
                if self._port or attempt == _BIND_ATTEMPTS - 1:
                    raise
                continue  # the UDP port's TCP twin is taken: try another pair
            self._udp, self._udp_closed, self._port = transport, closed, port
            break
        if self._tls is not None:
            self._dot = await asyncio.start_server(
                self._accept_dot,
                self._host,
                self._dot_port,
                ssl=self._tls,
                ssl_handshake_timeout=_HANDSHAKE_TIMEOUT,
            )
            self._dot_port = self._dot.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listeners, end every connection and pending answer."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._udp_closed is not None:
            await self._udp_closed
            self._udp_closed = None
        servers = [s for s in (self._tcp, self._dot) if s is not None]
        self._tcp = self._dot = None
        for server in servers:
            server.close()
        while self._tasks:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in servers:
            await server.wait_closed()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as a task that `stop()` cancels."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            _log.error("dns_answer_failed", exc_info=exc)

    def _accept_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.spawn(self._serve(reader, writer, Transport.TCP))

    def _accept_dot(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.spawn(self._serve(reader, writer, Transport.DOT))

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: Transport
    ) -> None:
        try:
            while True:
                async with asyncio.timeout(_IDLE_TIMEOUT):
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    wire = await reader.readexactly(length)
                reply = await self.answer(wire, transport)
                if reply is None:
                    continue  # silent: read on, so that a client giving up ends the connection
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, OSError, TimeoutError):
            return  # the client closed, or went quiet: end of the conversation
        finally:
            writer.transport.abort()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, listeners: DnsListeners, closed: asyncio.Future[None]) -> None:
        self._listeners = listeners
        self._closed = closed
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # On Python 3.11 the selector loop's datagram transport does not subclass
        # DatagramTransport, though it is one.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._listeners.spawn(self._reply(data, addr))

    async def _reply(self, wire: bytes, addr: tuple[str | int, ...]) -> None:
        reply = await self._listeners.answer(wire, Transport.UDP)
        transport = self._transport
        if reply is not None and transport is not None and not transport.is_closing():
            with contextlib.suppress(OSError):  # the client is gone: nothing to tell
                transport.sendto(reply, addr)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self._closed.done():
            self._closed.set_result(None)
