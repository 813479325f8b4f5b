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
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine

import h11

from lab import wire
from lab.certs import LabCA
from lab.faults import CERT_FAULTS, Fault, FaultBoard, ParamValue, parse_fault
from lab.loopback import loopback_address
from lab.nginx import Request, Site, blog_reply, is_admin_path, redirect_reply

__all__ = ["Fault", "RegionalOrigin", "loopback_address"]

_log = logging.getLogger(__name__)

# Nginx's keepalive_timeout default: an idle kept-alive connection is closed after this.
_KEEPALIVE_TIMEOUT = 75.0
_HANDSHAKE_TIMEOUT = 10.0

_Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], None]


def _check_header_value(what: str, value: str) -> str:
    # These end up in response headers; h11 would refuse them later, mid-response.
    if not value or not value.isascii() or not value.isprintable() or value != value.strip():
        raise ValueError(f"{what} must be non-empty printable ASCII, got {value!r}")
    return value


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
        self._https_port = https_port
        self._http_port = http_port
        self._release = _check_header_value("release", release)
        self._board = FaultBoard()
        self._https: asyncio.Server | None = None
        self._servers: list[asyncio.Server] = []
        self._generation = 0  # bumped whenever the HTTPS listener's desired state changes
        self._listener_tasks: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self._listening_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._listening_context.set_alpn_protocols(["http/1.1"])
        self._listening_context.sni_callback = self._choose_certificate
        self._started = False
        self._stopped = False
        # Completed TLS handshakes: each is a new connection (tests use it to tell a fresh
        # connection from a kept-alive one).
        self.tls_handshakes = 0
        # Complete requests read on either listener, whatever a fault then did with them.
        self.requests_served = 0

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
        return self._https_port

    @property
    def http_port(self) -> int:
        return self._http_port

    @property
    def release(self) -> str:
        return self._release

    def deploy(self, version: str) -> None:
        """Roll out `version`: the release header changes for every response from now on."""
        self._release = _check_header_value("release", version)

    async def start(self) -> None:
        """Bind both listeners; with port 0 the chosen port is kept across refuse and heal."""
        if self._started or self._stopped:
            raise RuntimeError("an origin starts once")
        self._started = True
        self._context()  # issue the certificate before the first handshake needs it
        https = self._bind(self._https_port)
        self._https_port = https.getsockname()[1]
        try:
            http = self._bind(self._http_port)
        except OSError:
            https.close()
            raise
        self._http_port = http.getsockname()[1]
        self._servers.append(await self._serve(http, self._serve_http, tls=False))
        self._https = await self._serve(https, self._serve_https, tls=True)
        if self._board.active(Fault.REFUSE):
            self._close_https()

    async def stop(self) -> None:
        """Close both listeners and every open connection, hung ones included. Idempotent."""
        self._stopped = True
        self._close_https()
        # Re-opens in flight close what they open (the generation moved on); a failed one has
        # nothing left to clean up, so its error does not stop the shutdown.
        await asyncio.gather(*self._listener_tasks, return_exceptions=True)
        for server in self._servers:
            server.close()
        # A connection accepted just before the listener closed may start its handler a tick
        # later; it sees `_stopped` and closes, but keep collecting until none are left.
        while self._connections:
            for task in self._connections:
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    async def __aenter__(self) -> RegionalOrigin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def settled(self) -> None:
        """Wait until listener changes asked for by `inject`/`heal` (REFUSE) are fully in place."""
        while self._listener_tasks:
            await asyncio.gather(*self._listener_tasks)

    def inject(self, fault: Fault | str, **params: ParamValue) -> None:
        """Switch a fault on (again: its params are replaced and its `every` counter restarts).

        Raises ValueError naming the problem for an unknown fault, parameter or value.
        """
        parsed = self._board.inject(fault, params)
        if parsed in CERT_FAULTS:
            # Issue now: a key generation inside a client's handshake would look like SLOW.
            self._context()
        elif parsed is Fault.REFUSE:
            self._close_https()

    def heal(self, fault: Fault | str | None = None) -> None:
        """Switch one fault off, or all of them (None).

        Healing REFUSE re-binds the HTTPS port first: if that fails (OSError, the port was taken
        meanwhile) nothing is healed.
        """
        heals_refuse = fault is None or parse_fault(fault) is Fault.REFUSE
        listening = self._started and not self._stopped
        if heals_refuse and listening and self._board.active(Fault.REFUSE):
            self._reopen_https()
        self._board.heal(fault)

    def faults(self) -> dict[str, dict[str, ParamValue]]:
        """The active faults, in injection order, with their parameters (defaults filled in)."""
        return self._board.snapshot()

    # Listeners

    def _bind(self, port: int) -> socket.socket:
        # Bound and listening synchronously: from here on the kernel queues connections.
        return socket.create_server((self._address, port), backlog=128)

    async def _serve(self, sock: socket.socket, handler: _Handler, *, tls: bool) -> asyncio.Server:
        try:
            if not tls:
                return await asyncio.start_server(handler, sock=sock)
            return await asyncio.start_server(
                handler,
                sock=sock,
                ssl=self._listening_context,
                ssl_handshake_timeout=_HANDSHAKE_TIMEOUT,
            )
        except BaseException:
            sock.close()
            raise

    def _close_https(self) -> None:
        self._generation += 1  # a re-open still in flight closes what it opened
        if self._https is not None:
            self._https.close()
            self._https = None

    def _reopen_https(self) -> None:
        loop = asyncio.get_running_loop()
        sock = self._bind(self._https_port)
        self._generation += 1
        generation = self._generation

        async def serve() -> None:
            server = await self._serve(sock, self._serve_https, tls=True)
            self._servers.append(server)
            if generation == self._generation:
                self._https = server
            else:
                server.close()

        task = loop.create_task(serve())
        self._listener_tasks.add(task)
        task.add_done_callback(self._listener_tasks.discard)

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

    # The connection callbacks are plain functions that start a task of our own: on Python 3.11
    # asyncio's own task for a coroutine callback logs an error when cancelled (it calls
    # task.exception() on it), and stop() must cancel the handlers of hung connections.
    def _serve_https(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # asyncio calls back only once the handshake has completed.
        self.tls_handshakes += 1
        self._spawn(self._connection(reader, writer, tls=True))

    def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._spawn(self._connection(reader, writer, tls=False))

    def _spawn(self, handler: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(handler)
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool
    ) -> None:
        graceful = True
        try:
            if self._stopped:
                return
            await self._exchange(reader, writer, tls=tls)
        except asyncio.CancelledError:
            graceful = False  # stop(): no close_notify exchange with a client that may be hung
            raise
        except (OSError, h11.ProtocolError, TimeoutError) as exc:
            # Clients may disconnect at any moment; that ends the connection, nothing more.
            _log.debug("connection_ended region=%s: %r", self.region, exc)
        except Exception:
            _log.exception("connection_failed region=%s", self.region)
        finally:
            await wire.close(writer, graceful=graceful)

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tls: bool,
    ) -> None:
        """Serve requests on one connection until either side ends it."""
        conn = h11.Connection(h11.SERVER)
        while True:
            try:
                async with asyncio.timeout(_KEEPALIVE_TIMEOUT):
                    received = await wire.read_request(conn, reader)
            except h11.RemoteProtocolError as exc:
                await wire.send_error(conn, writer, exc.error_status_hint)
                return
            if received is None:
                return
            self.requests_served += 1
            if not tls:
                await wire.send_reply(
                    conn,
                    writer,
                    redirect_reply(received.request, site=self._site),
                    head=received.head,
                )
            elif not await self._answer(conn, reader, writer, received):
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # Connection: close, or HTTP/1.0
            conn.start_next_cycle()

    async def _answer(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        received: wire.ReceivedRequest,
    ) -> bool:
        """Answer one HTTPS request, faults included; False when the connection must end."""
        request: Request = received.request
        fired = self._board.draw(admin_path=is_admin_path(request.target))
        if Fault.MALFORMED in fired:
            writer.write(b"garbage\r\n\r\n")
            await writer.drain()
            return False
        if Fault.HANG in fired:
            # Read (and drop) until the client gives up, so its disconnect ends the task.
            while await reader.read(65536):
                pass
            return False
        if Fault.SLOW in fired:
            await asyncio.sleep(float(self._board.param(Fault.SLOW, "delay")))
        reply = blog_reply(
            request,
            site=self._site,
            release=self._release,
            hsts=not self._board.active(Fault.NO_HSTS),
            expose_admin=self._board.active(Fault.EXPOSE_ADMIN),
            error_status=int(self._board.param(Fault.ERROR, "status"))
            if Fault.ERROR in fired
            else None,
            origin_down=Fault.ORIGIN_DOWN in fired,
        )
        if Fault.RESET in fired:
            await wire.reset(conn, writer, reply)
            return False
        await wire.send_reply(conn, writer, reply, head=received.head)
        return True
