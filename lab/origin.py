"""A regional origin for the lab and the tests: the model's Nginx-in-front-of-Ghost on loopback.

One HTTPS listener (the site) and one plain-HTTP listener (the redirect), both pure asyncio with
h11, switchable into faults at runtime (`inject`, `heal`). Only the HTTPS listener is affected by
faults: the redirect server block of the model's Nginx has no upstream to break.

Listener changes (REFUSE and its healing) are made synchronously where the kernel allows it:
`inject(REFUSE)` closes the listening socket before it returns, and `heal(REFUSE)` binds and
listens before it returns, so connections are refused, or queued for accept, from that moment.
Serving the re-bound socket starts in a task; `await origin.settled()` waits for it.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from lab.certs import LabCA
from lab.faults import CERT_FAULTS, Fault, FaultBoard, ParamValue, Target, faults_of, parse_fault
from lab.httpserver import Handler, HttpRequest, HttpResponse, HttpServer, Misbehaviour, PathCut
from lab.loopback import loopback_address
from lab.nginx import (
    BYPASS_HEADER,
    Reply,
    Request,
    Site,
    blog_reply,
    error_page,
    is_admin_path,
    reason_phrase,
    redirect_reply,
)

__all__ = ["Fault", "RegionalOrigin", "loopback_address"]

# Nginx's keepalive_timeout default: an idle kept-alive connection is closed after this.
_KEEPALIVE_TIMEOUT = 75.0


_NOT_PROXIED = frozenset(faults_of(Target.ORIGIN)) - {Fault.ERROR, Fault.ORIGIN_DOWN}


def _number(value: ParamValue) -> float:
    assert isinstance(value, int | float)
    return value


def _check_header_value(what: str, value: str) -> str:
    # These end up in response headers; h11 would refuse them later, mid-response.
    if not value or not value.isascii() or not value.isprintable() or value != value.strip():
        raise ValueError(f"{what} must be non-empty printable ASCII, got {value!r}")
    return value


def _origin_form(target: str) -> str:
    # Absolute-form targets (`GET https://host/path`) are legal; Nginx routes on their path.
    if target.startswith("/"):
        return target
    _, _, rest = target.partition("://")
    return rest[rest.find("/") :] if "/" in rest else "/"


def _nginx_request(request: HttpRequest) -> Request:
    bypass = request.headers.get(BYPASS_HEADER.lower(), "")
    return Request(
        method=request.method,
        target=_origin_form(request.target),
        bypass=any(value.strip() == "1" for value in bypass.split(",")),
    )


def _response(reply: Reply, misbehave: Misbehaviour | None = None) -> HttpResponse:
    # h11 sends an empty reason phrase unless told; Nginx always sends one.
    reason = reason_phrase(reply.status)
    return HttpResponse(reply.status, reply.body, reply.headers, reason=reason, misbehave=misbehave)


def _bad_request(status: int, reason: str) -> HttpResponse:
    """Answer an unparseable request as Nginx does (400 and close)."""
    body = error_page(status)
    headers = [
        ("Server", "nginx"),
        ("Content-Type", "text/html"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    return _response(Reply(status, headers, body))


class RegionalOrigin:
    """One region of the model deployment, on `address`, with faults switchable at runtime.

    Not thread-safe: call every method from the thread running its event loop.
    """

    def __init__(
        self,
        *,
        region: str,
        hostname: str,
        ca: LabCA,
        address: str = "127.0.0.1",
        https_port: int = 0,
        http_port: int = 0,
        release: str = "1.0.0",
    ) -> None:
        self._site = Site(_check_header_value("region", region), hostname)
        self._ca = ca
        self._address = address
        self._release = _check_header_value("release", release)
        self._board = FaultBoard()
        listening = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        listening.set_alpn_protocols(["http/1.1"])
        listening.sni_callback = self._choose_certificate
        self._https = self._server(self._answer, https_port, listening)
        self._http = self._server(self._redirect, http_port, None)
        self._started = False

    def _server(self, handler: Handler, port: int, tls: ssl.SSLContext | None) -> HttpServer:
        # As Nginx: its keepalive timeout, its error page, and no answer from a crashed handler.
        return HttpServer(
            handler,
            host=self._address,
            port=port,
            tls=tls,
            idle_timeout=_KEEPALIVE_TIMEOUT,
            bad_request=_bad_request,
            crash=None,
        )

    @property
    def tls_handshakes(self) -> int:
        """Completed TLS handshakes: each is a new connection (tests use it to tell a fresh
        connection from a kept-alive one)."""
        return self._https.connections

    @property
    def requests_served(self) -> int:
        """Complete requests read on either listener, whatever a fault then did with them."""
        return self._https.requests + self._http.requests

    @property
    def region(self) -> str:
        return self._site.region

    @property
    def hostname(self) -> str:
        return self._site.hostname

    @property
    def address(self) -> str:
        return self._address

    @property
    def https_port(self) -> int:
        return self._https.port

    @property
    def http_port(self) -> int:
        return self._http.port

    @property
    def release(self) -> str:
        return self._release

    def deploy(self, version: str) -> None:
        """Roll out `version`: the release header changes for every response from now on."""
        self._release = _check_header_value("release", version)

    async def start(self) -> None:
        """Bind both listeners; with port 0 the chosen port is kept across refuse and heal."""
        if self._started:
            raise RuntimeError("an origin starts once")
        self._started = True
        self._context()  # issue the certificate before the first handshake needs it
        https = self._https.bind()
        try:
            http = self._http.bind()
        except OSError:
            https.close()
            raise
        await self._http.start(http)
        await self._https.start(https)
        if self._board.active(Fault.REFUSE):
            self._https.pause()

    async def stop(self) -> None:
        """Close both listeners and every open connection, hung ones included. Idempotent."""
        await self._https.stop()
        await self._http.stop()

    async def __aenter__(self) -> RegionalOrigin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def settled(self) -> None:
        """Wait until listener changes asked for by `inject`/`heal` (REFUSE) are fully in place."""
        await self._https.settled()

    def inject(self, fault: Fault | str, **params: ParamValue) -> None:
        """Switch a fault on (again: its params are replaced and its `every` counter restarts).

        Raises ValueError naming the problem for an unknown fault, parameter or value.
        """
        parsed = self._board.inject(fault, params)
        if parsed in CERT_FAULTS:
            # Issue now: a key generation inside a client's handshake would look like SLOW.
            self._context()
        elif parsed is Fault.REFUSE:
            self._https.pause()

    def heal(self, fault: Fault | str | None = None) -> None:
        """Switch one fault off, or all of them (None).

        Healing REFUSE re-binds the HTTPS port first: if that fails (OSError, the port was taken
        meanwhile) nothing is healed.
        """
        heals_refuse = fault is None or parse_fault(fault) is Fault.REFUSE
        if heals_refuse and self._board.active(Fault.REFUSE):
            self._https.resume()
        self._board.heal(fault)

    def cut_path(self, peer: str, how: PathCut, *, delay: float = 0.0) -> None:
        """Break the path from `peer` (a vantage point's source address) to this region, on
        both listeners, for the connections it opens from now on; other peers are untouched."""
        for server in (self._https, self._http):
            server.cuts[peer] = (how, delay)

    def restore_path(self, peer: str) -> None:
        """Heal the path from `peer` (a no-op when it is not cut)."""
        for server in (self._https, self._http):
            server.cuts.pop(peer, None)

    @property
    def cut_paths(self) -> dict[str, dict[str, Any]]:
        """The cut paths by peer address: how, and a slow one's delay."""
        return {
            peer: {"how": how.value, **({"delay": delay} if how is PathCut.SLOW else {})}
            for peer, (how, delay) in self._https.cuts.items()
        }

    def faults(self) -> dict[str, dict[str, ParamValue]]:
        """The active faults, in injection order, with their parameters (defaults filled in)."""
        return self._board.snapshot()

    # Connections

    def _context(self) -> ssl.SSLContext:
        """The server context for the certificate the active faults call for."""
        kind, days = self._board.certificate()
        return self._ca.server_context(self.hostname, kind, days=days)

    def _choose_certificate(
        self, tls: ssl.SSLObject, server_name: str | None, listening: ssl.SSLContext
    ) -> None:
        # Called for every ClientHello (with None when the client sent no SNI): swapping the
        # context here makes a certificate fault apply to the next handshake, no re-bind needed.
        tls.context = self._context()

    async def _redirect(self, request: HttpRequest) -> HttpResponse:
        return _response(redirect_reply(_nginx_request(request), site=self._site))

    async def _answer(self, http_request: HttpRequest) -> HttpResponse:
        """Answer one HTTPS request, faults included."""
        request = _nginx_request(http_request)
        # Nginx answers /ghost itself: faults of the proxied Ghost never reach that path.
        admin = is_admin_path(request.target)
        fired = self._board.draw(_NOT_PROXIED if admin else None)
        if Fault.MALFORMED in fired:
            return HttpResponse(200, misbehave=Misbehaviour.MALFORMED)
        if Fault.HANG in fired:
            return HttpResponse(200, misbehave=Misbehaviour.HANG)
        if Fault.SLOW in fired:
            await asyncio.sleep(_number(fired[Fault.SLOW]["delay"]))
        reply = blog_reply(
            request,
            site=self._site,
            release=self._release,
            hsts=not self._board.active(Fault.NO_HSTS),
            expose_admin=self._board.active(Fault.EXPOSE_ADMIN),
            error_status=int(_number(fired[Fault.ERROR]["status"]))
            if Fault.ERROR in fired
            else None,
            origin_down=Fault.ORIGIN_DOWN in fired,
        )
        return _response(reply, Misbehaviour.RESET if Fault.RESET in fired else None)
