"""A stand-in for Ghost behind a real Nginx: plain HTTP, one page, switchable to 500s or down."""

from __future__ import annotations

import asyncio
import enum

__all__ = ["GhostMode", "GhostOrigin"]

_PAGE = (
    b"<!doctype html><html><head><title>Lab Blog</title></head>"
    b"<body><h1>Lab Blog</h1><p>Served by the Ghost stand-in.</p></body></html>"
)


class GhostMode(enum.StrEnum):
    UP = "up"
    ERROR = "error"  # answers 500, as a Ghost that lost its database would
    DOWN = "down"  # the listener is closed: Nginx's connections are refused


class GhostOrigin:
    """The upstream of a real Nginx in tests and benchmarks (HTTP/1.0-style, one request per
    connection, which is how Nginx talks to an upstream by default)."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0, release: str = "1.0.0") -> None:
        self.address = address
        self.port = port
        self.release = release
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._mode = GhostMode.UP

    @property
    def mode(self) -> GhostMode:
        return self._mode

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.address, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def set_mode(self, mode: GhostMode) -> None:
        """Switch behaviour; DOWN closes the listener, leaving it restores it on the same port."""
        if mode is GhostMode.DOWN and self._server is not None:
            await self.stop()
        elif mode is not GhostMode.DOWN and self._server is None:
            await self.start()
        self._mode = mode

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            if self._mode is GhostMode.ERROR:
                status, body = b"500 Internal Server Error", b"<h1>500</h1>"
            else:
                status, body = b"200 OK", _PAGE
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"X-Release: " + self.release.encode() + b"\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass  # Nginx gave up on us: nothing to answer
        finally:
            writer.close()
