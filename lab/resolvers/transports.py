"""The lab resolver's DNS listeners on loopback: UDP and TCP on one port (`lab.dnstransport`), and
DNS over TLS on another (RFC 7858: TLS, then the same two-byte length framing).

Each runs as tasks of the caller's loop; `stop()` closes every socket and ends every connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable

from lab.dnstransport import DnsServer
from lab.resolvers.log import Transport

__all__ = ["Answerer", "DnsListeners"]

# The wire answer to a wire query, or None for no answer at all (a silent resolver): UDP sends
# nothing, a stream connection stays open, unanswered, until the client gives up.
Answerer = Callable[[bytes, Transport], Awaitable[bytes | None]]

_HANDSHAKE_TIMEOUT = 5.0


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
        self._dot_port = dot_port
        self._tls = tls
        self._plain = DnsServer(self._answer_plain, host=host, port=port)
        self._dot: asyncio.Server | None = None

    @property
    def port(self) -> int:
        return self._plain.port

    @property
    def dot_port(self) -> int:
        return self._dot_port

    async def start(self) -> None:
        await self._plain.start()
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
        dot, self._dot = self._dot, None
        if dot is not None:
            dot.close()
        await self._plain.stop()  # DoT connections are its tasks too: this ends them
        if dot is not None:
            await dot.wait_closed()

    def _answer_plain(self, wire: bytes, source: str, stream: bool) -> Awaitable[bytes | None]:
        return self.answer(wire, Transport.TCP if stream else Transport.UDP)

    def _answer_dot(self, wire: bytes, source: str, stream: bool) -> Awaitable[bytes | None]:
        return self.answer(wire, Transport.DOT)

    def _accept_dot(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._plain.serve_stream(reader, writer, self._answer_dot)
