"""A stand-in for Ghost behind a real Nginx: plain HTTP, one page, with the lab's faults
`error` (500s) and `refuse` (down)."""

from __future__ import annotations

from lab.faults import Fault, FaultBoard, ParamValue, Target, parse_fault
from lab.httpserver import HttpRequest, HttpResponse, HttpServer

__all__ = ["GhostOrigin"]

_PAGE = (
    b"<!doctype html><html><head><title>Lab Blog</title></head>"
    b"<body><h1>Lab Blog</h1><p>Served by the Ghost stand-in.</p></body></html>"
)


class GhostOrigin:
    """The upstream of a real Nginx in tests and benchmarks (one request per connection, which
    is how Nginx talks to an upstream by default)."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0, release: str = "1.0.0") -> None:
        self.address = address
        self.release = release
        self._server = HttpServer(self._answer, host=address, port=port, crash=None)
        self._board = FaultBoard(Target.GHOST)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def requests(self) -> int:
        return self._server.requests

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    def inject(self, fault: Fault | str, **params: ParamValue) -> None:
        """`error`: answer 500, as a Ghost that lost its database would; `refuse`: close the
        listener (before this returns), so Nginx's connections are refused."""
        if self._board.inject(fault, params) is Fault.REFUSE:
            self._server.pause()

    def heal(self, fault: Fault | str | None = None) -> None:
        """Switch one fault off, or both; healing `refuse` listens again on the same port."""
        if fault is None or parse_fault(fault, Target.GHOST) is Fault.REFUSE:
            self._server.resume()
        self._board.heal(fault)

    def faults(self) -> dict[str, dict[str, ParamValue]]:
        return self._board.snapshot()

    async def settled(self) -> None:
        """Wait until a listener re-opened by `heal` serves."""
        await self._server.settled()

    async def _answer(self, request: HttpRequest) -> HttpResponse:
        if self._board.active(Fault.ERROR):
            status, reason, body = 500, "Internal Server Error", b"<h1>500</h1>"
        else:
            status, reason, body = 200, "OK", _PAGE
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("X-Release", self.release),
            ("Connection", "close"),
        ]
        return HttpResponse(status, body, headers, reason=reason)
