"""DNS over UDP and TCP on one loopback port (RFC 1035 §4.2; RFC 7766: two-byte length framing),
each query answered by a function: the lab resolvers' and the Traffic Manager emulator's listener.

It runs as tasks of the caller's loop; `stop()` closes both sockets and ends every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

__all__ = ["Answer", "DnsServer"]

_log = logging.getLogger(__name__)

# The wire answer to a wire query from the address `source`, received on a stream (TCP, DoT) when
# `stream` is true, else over UDP; None for no answer: UDP sends nothing, see `DnsServer` for TCP.
Answer = Callable[[bytes, str, bool], Awaitable[bytes | None]]

_IDLE_TIMEOUT = 30.0  # RFC 7766 §6.2.3: servers close idle connections after some seconds
_BIND_ATTEMPTS = 20


class DnsServer:
    """UDP and TCP on `host:port` (0: one free port for both).

    A TCP query left unanswered closes the connection when `hang_up` is set (an authoritative
    server dropping garbage); otherwise the connection reads on, unanswered, until the client gives
    up (a silent resolver).
    """

    def __init__(self, answer: Answer, *, host: str, port: int = 0, hang_up: bool = False) -> None:
        self.answer = answer
        self._host = host
        self._port = port
        self._hang_up = hang_up
        self._udp: _Udp | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port of both the UDP and the TCP listener."""
        return self._port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for attempt in range(_BIND_ATTEMPTS):
            transport, udp = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self._host, self._port)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self.serve_stream, self._host, port)
            except OSError:
                await udp.close()
                if self._port or attempt == _BIND_ATTEMPTS - 1:
                    raise
                continue  # the UDP port's TCP twin is taken: try another pair
            self._udp, self._port = udp, port
            return

    async def stop(self) -> None:
        """Close both listeners, end every connection and pending answer."""
        udp, tcp = self._udp, self._tcp
        self._udp, self._tcp = None, None
        if udp is not None:
            await udp.close()
        if tcp is not None:
            tcp.close()
        while self._tasks:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if tcp is not None:
            await tcp.wait_closed()

    def serve_stream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        answer: Answer | None = None,
    ) -> None:
        """Answer a framed stream (TCP here, or another listener's, e.g. TLS) with `answer`, by
        default the server's, as a task that `stop()` ends."""
        self._spawn(self._converse(reader, writer, answer or self.answer))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as a task that `stop()` cancels."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            _log.error("dns_answer_failed", exc_info=exc)

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: Answer
    ) -> None:
        try:
            source = str(writer.get_extra_info("peername")[0])
            while True:
                async with asyncio.timeout(_IDLE_TIMEOUT):
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    wire = await reader.readexactly(length)
                reply = await answer(wire, source, True)
                if reply is not None:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
                elif self._hang_up:
                    return  # otherwise silent: read on, so that a client giving up ends it
        except (asyncio.IncompleteReadError, OSError, TimeoutError):
            return  # the client closed, or went quiet: end of the conversation
        finally:
            writer.transport.abort()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # On Python 3.11 the selector loop's datagram transport does not subclass
        # DatagramTransport, though it is one.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._server._spawn(self._reply(data, addr))

    async def _reply(self, wire: bytes, addr: tuple[str | int, ...]) -> None:
        reply = await self._server.answer(wire, str(addr[0]), False)
        transport = self._transport
        if reply is not None and transport is not None and not transport.is_closing():
            with contextlib.suppress(OSError):  # the client is gone: nothing to tell
                transport.sendto(reply, addr)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self._closed.done():
            self._closed.set_result(None)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        await self._closed
