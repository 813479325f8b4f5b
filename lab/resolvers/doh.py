"""DNS over HTTPS (RFC 8484) for a lab resolver: `GET /dns-query?dns=<base64url, no padding>`
and `POST /dns-query` with `application/dns-message`, over HTTPS/1.1 on loopback.

It runs on the emulator's small h11 server, as tasks of the caller's loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import ssl

import dns.exception
import dns.message

from lab.faults import Fault, FaultBoard
from lab.httpserver import HttpRequest, HttpResponse, HttpServer, StreamedBody
from lab.resolvers.log import Transport
from lab.resolvers.transports import Answerer

__all__ = ["DOH_PATH", "MEDIA_TYPE", "DohServer"]

DOH_PATH = "/dns-query"
MEDIA_TYPE = "application/dns-message"
_MAX_QUERY = 65535
_HEADER = 12
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class DohServer:
    """Answers DoH requests on `host:port` (0: a free port) with `answer`; a query it does not
    answer (a silent resolver) leaves the request hanging until the client gives up or `stop()`.
    With `faults` given, its endless-body fault answers every valid query with a 200 whose body
    never ends."""

    def __init__(
        self,
        answer: Answerer,
        tls: ssl.SSLContext,
        *,
        host: str,
        port: int = 0,
        faults: FaultBoard | None = None,
    ) -> None:
        self._answer = answer
        self._faults = faults
        self._host = host
        self._server = HttpServer(self._handle, host=host, port=port, tls=tls)
        self._running = False

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self.port}{DOH_PATH}"

    async def start(self) -> None:
        await self._server.start()
        self._running = True

    async def stop(self) -> None:
        if self._running:
            self._running = False
            await self._server.stop()

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.path != DOH_PATH:
            return _problem(404, "not found: DoH answers at /dns-query")
        if request.method == "GET":
            wire = _decode(request.param("dns"))
            if wire is None:
                return _problem(400, "the dns parameter must be a base64url DNS message")
        elif request.method == "POST":
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media != MEDIA_TYPE:
                return _problem(415, f"the body must be {MEDIA_TYPE}")
            wire = request.body
            if not wire or len(wire) > _MAX_QUERY:
                return _problem(400, "the body must be one DNS message")
        else:
            return HttpResponse(405, b"", [("Allow", "GET, POST")])
        if len(wire) < _HEADER or wire[2] & 0x80:
            return _problem(400, "not a DNS query")  # too short, or a response (QR set)
        if self._faults is not None and self._faults.draw({Fault.ENDLESS_BODY}):
            return HttpResponse(200, headers=[("Content-Type", MEDIA_TYPE)], stream=StreamedBody())
        reply = await self._answer(wire, Transport.DOH)
        if reply is None:
            await asyncio.Event().wait()  # a silent resolver: until the client or stop() ends it
        assert reply is not None
        headers = [("Content-Type", MEDIA_TYPE)]
        max_age = _max_age(reply)
        if max_age is not None:
            headers.append(("Cache-Control", f"max-age={max_age}"))
        return HttpResponse(200, reply, headers)


def _decode(text: str | None) -> bytes | None:
    if not text or len(text) > 2 * _MAX_QUERY or not _BASE64URL.fullmatch(text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _max_age(reply: bytes) -> int | None:
    """RFC 8484 §5.1: an answer is fresh no longer than its smallest TTL."""
    try:
        message = dns.message.from_wire(reply)
    except dns.exception.DNSException:
        return None
    ttls = [rrset.ttl for rrset in (*message.answer, *message.authority)]
    return min(ttls) if ttls else None


def _problem(status: int, text: str) -> HttpResponse:
    return HttpResponse(status, text.encode(), [("Content-Type", "text/plain; charset=utf-8")])
