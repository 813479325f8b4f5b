"""A stand-in for Ghost behind a real Nginx: plain HTTP, one page, switchable to 500s or down."""

from __future__ import annotations

import enum

from lab.httpserver import HttpRequest, HttpResponse, HttpServer

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
    """The upstream of a real Nginx in tests and benchmarks (one request per connection, which
    is how Nginx talks to an upstream by default)."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0, release: str = "1.0.0") -> None:
        self.address = address
        self.release = release
        self._server = HttpServer(self._answer, host=address, port=port, crash=None)
        self._mode = GhostMode.UP

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def requests(self) -> int:
        return self._server.requests

    @property
    def mode(self) -> GhostMode:
        return self._mode

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def set_mode(self, mode: GhostMode) -> None:
        """Switch behaviour; DOWN closes the listener, leaving it restores it on the same port."""
        if mode is GhostMode.DOWN:
            self._server.pause()
        else:
            self._server.resume()
            await self._server.settled()
        self._mode = mode

    async def _answer(self, request: HttpRequest) -> HttpResponse:
        if self._mode is GhostMode.ERROR:
            status, reason, body = 500, "Internal Server Error", b"<h1>500</h1>"
        else:
            status, reason, body = 200, "OK", _PAGE
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("X-Release", self.release),
            ("Connection", "close"),
        ]
        return HttpResponse(status, body, headers, reason=reason)
