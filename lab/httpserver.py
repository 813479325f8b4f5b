"""The lab's one HTTP/1.1 server: asyncio streams and h11, over TLS or plain, with misbehaviours.

Every lab server that speaks HTTP runs on it: the regional origins (HTTPS and the redirect), the
Ghost stand-in, the Traffic Manager emulator's HTTPS front and the resolvers' DoH. A handler
turns an `HttpRequest` into an `HttpResponse`; a response may ask the server to misbehave on the
wire instead of answering cleanly (`Misbehaviour`), which is how faults reach the bytes.

The listener can be closed and re-opened while running (`pause`, `resume`): both take effect
before they return, so from that moment connections are refused, or queued for accept.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import json
import logging
import socket
import ssl
import struct
import sys
import termios
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

__all__ = [
    "Handler",
    "HttpRequest",
    "HttpResponse",
    "HttpServer",
    "Misbehaviour",
    "PathCut",
    "StreamedBody",
]

_log = logging.getLogger(__name__)

_CHUNK = 65536
_MAX_BODY = 1 << 20
_HANDSHAKE_TIMEOUT = 10.0
# How long a graceful close may take (the TLS close_notify exchange) before we abort.
_CLOSE_GRACE = 1.0


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str  # as sent: path and query, percent-encoded (or an absolute URL)
    headers: Mapping[str, str]  # names lowercased; repeated headers joined with ", "
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        """A query parameter, its name matched case-insensitively (as ARM does)."""
        for key, values in self.query.items():
            if key.lower() == name.lower():
                return values[-1]
        return None

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8")) if self.body else None


class PathCut(enum.StrEnum):
    """How the path from one peer address is broken (the lab's per-vantage-point paths)."""

    REFUSE = "refuse"  # its connections are cut at once (a reset)
    BLACKHOLE = "blackhole"  # its connections are held and never answered: a dropped route
    SLOW = "slow"  # every answer to it waits `delay` seconds first: one way slow


@dataclass(slots=True)
class StreamedBody:
    """A body sent as it is made, chunked: `head` first, then `chunk` again and again, `size`
    bytes in all, head included (None: without end, until the client goes away), waiting
    `pause` seconds before each `chunk` (a drip: `head=b"{", chunk=b" ", pause=1.0` answers
    `{` and then one byte a second). `sent` counts the bytes written so far, each chunk
    counted once the socket has taken it (a misbehaving server, for the lab's faults)."""

    chunk: bytes = b"\0" * 16384
    size: int | None = None
    head: bytes = b""
    pause: float = 0.0
    sent: int = 0
    done: bool = False  # the server stopped sending: all of it, or the client went away

    def next_chunk(self) -> bytes:
        """The next piece to send; empty once `size` bytes are out."""
        piece = self.head if self.sent == 0 and self.head else self.chunk
        if self.size is None:
            return piece
        return piece[: max(0, self.size - self.sent)]


class Misbehaviour(enum.Enum):
    """What the server does on the wire instead of sending a response cleanly."""

    RESET = "reset"  # the head and half the body, then a TCP reset (RST, not FIN)
    MALFORMED = "malformed"  # bytes that are not HTTP, then close
    HANG = "hang"  # nothing at all, until the client gives up


@dataclass(slots=True)
class HttpResponse:
    """A response. Content-Length (unless streamed) and Date are added when not given; a HEAD
    request gets the head only."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: StreamedBody | None = None  # instead of `body`: sent chunked, as it is made
    reason: str = ""  # the reason phrase (h11 sends none unless told)
    misbehave: Misbehaviour | None = None

    @classmethod
    def of_json(
        cls, status: int, payload: object, headers: Sequence[tuple[str, str]] = ()
    ) -> HttpResponse:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, [("Content-Type", "application/json; charset=utf-8"), *headers])

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


def _json_problem(status: int, text: str) -> HttpResponse:
    return HttpResponse.of_json(status, {"error": text})


def _json_crash() -> HttpResponse:
    return HttpResponse.of_json(
        500, {"error": {"code": "InternalServerError", "message": "server bug"}}
    )


class HttpServer:
    """Serves `handler` on `host:port` (0: a free one, kept across pause and resume), over TLS
    when `tls` is given. `bad_request(status, reason)` answers an unparseable request before the
    connection closes; `crash()` answers when the handler raised (None: the connection just
    closes). Kept-alive connections idle for `idle_timeout` seconds are closed.

    Not thread-safe: call every method from the thread running its event loop.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        idle_timeout: float = 120.0,
        bad_request: Callable[[int, str], HttpResponse] = _json_problem,
        crash: Callable[[], HttpResponse] | None = _json_crash,
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._tls = tls
        self._idle_timeout = idle_timeout
        self._bad_request = bad_request
        self._crash = crash
        self._server: asyncio.Server | None = None
        self._servers: list[asyncio.Server] = []
        self._generation = 0  # bumped whenever the listener's desired state changes
        self._listener_tasks: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self._started = False
        self._stopped = False
        # Peers whose path is cut, by address: how, and the delay of a slow one.
        self.cuts: dict[str, tuple[PathCut, float]] = {}
        self.connections = 0  # accepted (over TLS: completed handshakes)
        self.requests = 0  # complete requests read, whatever the answer

    @property
    def port(self) -> int:
        return self._port

    @property
    def listening(self) -> bool:
        return self._server is not None

    def bind(self) -> socket.socket:
        """Bind and listen synchronously (from here on the kernel queues connections); `start`
        serves the socket. Raises OSError when the port is taken."""
        sock = socket.create_server((self._host, self._port), backlog=128)
        self._port = sock.getsockname()[1]
        return sock

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen (on `sock` when already bound by `bind`) and serve."""
        if self._started or self._stopped:
            raise RuntimeError("a server starts once")
        self._started = True
        self._server = await self._serve(sock if sock is not None else self.bind())
        self._servers.append(self._server)

    async def stop(self) -> None:
        """Close the listener and every open connection, hung ones included. Idempotent."""
        self._stopped = True
        self.pause()
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
        self._servers.clear()

    def pause(self) -> None:
        """Close the listener now: new connections are refused; open ones carry on."""
        self._generation += 1  # a re-open still in flight closes what it opened
        if self._server is not None:
            self._server.close()
            self._server = None

    def resume(self) -> None:
        """Listen again on the same port, bound before this returns (OSError: the port was taken
        meanwhile); serving starts in a task, `settled()` waits for it. A no-op unless paused."""
        if not self._started or self._stopped or self._server is not None:
            return
        sock = self.bind()
        self._generation += 1
        generation = self._generation

        async def serve() -> None:
            server = await self._serve(sock)
            self._servers.append(server)
            if generation == self._generation:
                self._server = server
            else:
                server.close()

        task = asyncio.get_running_loop().create_task(serve())
        self._listener_tasks.add(task)
        task.add_done_callback(self._listener_tasks.discard)

    async def settled(self) -> None:
        """Wait until the listener changes asked for by `resume` are fully in place."""
        while self._listener_tasks:
            await asyncio.gather(*self._listener_tasks)

    async def _serve(self, sock: socket.socket) -> asyncio.Server:
        try:
            if self._tls is None:
                return await asyncio.start_server(self._accept, sock=sock)
            return await asyncio.start_server(
                self._accept, sock=sock, ssl=self._tls, ssl_handshake_timeout=_HANDSHAKE_TIMEOUT
            )
        except BaseException:
            sock.close()
            raise

    # The connection callback is a plain function that starts a task of our own: on Python 3.11
    # asyncio's own task for a coroutine callback logs an error when cancelled (it calls
    # task.exception() on it), and stop() must cancel the handlers of hung connections.
    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1  # asyncio calls back only once a TLS handshake has completed
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        graceful = True
        peer = writer.get_extra_info("peername")
        cut, delay = self.cuts.get(peer[0] if peer else "", (None, 0.0))
        try:
            if self._stopped:
                return
            if cut is PathCut.REFUSE:
                writer.transport.abort()
                return
            if cut is PathCut.BLACKHOLE:
                await asyncio.Event().wait()  # until stop() cancels it, or the peer gives up
            while True:
                async with asyncio.timeout(self._idle_timeout):
                    request = await self._read(conn, reader)
                if request is None:
                    return
                self.requests += 1
                if cut is PathCut.SLOW:
                    await asyncio.sleep(delay)
                response = await self._answer(request)
                head = request.method == "HEAD"
                if response is None or not await self._send(
                    conn, reader, writer, response, head=head
                ):
                    return
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return  # Connection: close, or HTTP/1.0
                conn.start_next_cycle()
        except asyncio.CancelledError:
            graceful = False  # stop(): no close_notify exchange with a client that may be hung
            raise
        except h11.RemoteProtocolError as exc:
            with contextlib.suppress(h11.LocalProtocolError, OSError):
                answer = self._bad_request(exc.error_status_hint, str(exc))
                await self._send(conn, reader, writer, answer)
        except (OSError, h11.ProtocolError, TimeoutError) as exc:
            # Clients may disconnect at any moment; that ends the connection, nothing more.
            _log.debug("connection_ended: %r", exc)
        finally:
            await _close(writer, graceful=graceful)

    async def _answer(self, request: HttpRequest) -> HttpResponse | None:
        try:
            return await self._handler(request)
        except Exception:
            _log.exception("handler_failed method=%s target=%s", request.method, request.target)
            return self._crash() if self._crash is not None else None

    async def _read(self, conn: h11.Connection, reader: asyncio.StreamReader) -> HttpRequest | None:
        """The next complete request, or None when the client closed.

        Raises h11.RemoteProtocolError on a malformed request."""
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(_CHUNK))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > _MAX_BODY:
                    raise h11.RemoteProtocolError("body too large", error_status_hint=413)
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                headers: dict[str, str] = {}
                for name, value in head.headers:
                    key = name.decode("latin-1").lower()
                    text = value.decode("latin-1")
                    headers[key] = f"{headers[key]}, {text}" if key in headers else text
                return HttpRequest(
                    method=head.method.decode("ascii"),
                    target=head.target.decode("ascii", errors="replace"),
                    headers=headers,
                    body=bytes(body),
                )
            else:
                # ConnectionClosed; PAUSED cannot happen at the start of a cycle: treated as
                # the end, never a spin.
                return None

    async def _send(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        response: HttpResponse,
        *,
        head: bool = False,
    ) -> bool:
        """Send `response` (or misbehave as it asks); False when the connection must end."""
        if response.misbehave is Misbehaviour.MALFORMED:
            writer.write(b"garbage\r\n\r\n")
            await writer.drain()
            return False
        if response.misbehave is Misbehaviour.HANG:
            # Read (and drop) until the client gives up, so its disconnect ends the task.
            while await reader.read(_CHUNK):
                pass
            return False
        names = {name.lower() for name, _ in response.headers}
        headers = list(response.headers)
        if "date" not in names:
            headers.append(("Date", formatdate(usegmt=True)))
        if response.stream is not None:
            headers.append(("Transfer-Encoding", "chunked"))
        elif "content-length" not in names:
            headers.append(("Content-Length", str(len(response.body))))
        start = h11.Response(
            status_code=response.status, headers=headers, reason=response.reason.encode("ascii")
        )
        data = conn.send(start)
        if response.misbehave is Misbehaviour.RESET:
            data += conn.send(h11.Data(data=response.body[: len(response.body) // 2]))
            writer.write(data)
            await writer.drain()
            await _reset(writer)
            return False
        if response.stream is not None:
            writer.write(data)
            try:
                await _send_chunks(conn, reader, writer, response.stream)
            finally:
                response.stream.done = True
            return True
        if response.body and not head:  # a HEAD request gets the head only
            data += conn.send(h11.Data(data=response.body))
        data += conn.send(h11.EndOfMessage())
        writer.write(data)
        await writer.drain()
        return True


async def _send_chunks(
    conn: h11.Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    body: StreamedBody,
) -> None:
    while chunk := body.next_chunk():
        if body.pause > 0 and (body.sent or not body.head):
            await asyncio.sleep(body.pause)
        writer.write(conn.send(h11.Data(data=chunk)))
        await writer.drain()  # a client that stopped reading stops us here
        body.sent += len(chunk)
        # Over TLS, drain() neither fails nor yields once the peer has gone: yield, so the
        # loss reaches the transport, and stop there.
        await asyncio.sleep(0)
        if writer.transport.is_closing() or reader.at_eof():
            raise ConnectionResetError("the client went away mid-body")
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()


def _unsent_bytes(sock: socket.socket) -> int:
    if sys.platform != "linux":
        return 0
    # On Linux TIOCOUTQ (= SIOCOUTQ) on a TCP socket counts bytes sent but not yet acknowledged.
    raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
    unsent: int = struct.unpack("i", raw)[0]
    return unsent


async def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")  # the TCP socket under TLS
    # SO_LINGER 0 turns close() into a RST, and a RST discards whatever the kernel still holds:
    # wait (briefly) until the peer has the partial response, so the fault is what the client sees.
    # Polled: neither asyncio nor the kernel signals "the peer has acknowledged everything".
    for _ in range(200):  # at most about a second
        if not (writer.transport.get_write_buffer_size() or _unsent_bytes(sock)):
            break
        await asyncio.sleep(0.005)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _close(writer: asyncio.StreamWriter, *, graceful: bool) -> None:
    """Close a connection: politely (TLS close_notify, FIN) within a grace period, else abort."""
    try:
        if graceful and not writer.transport.is_closing():
            writer.close()
            async with asyncio.timeout(_CLOSE_GRACE):
                await writer.wait_closed()
    except (OSError, TimeoutError):
        # The peer reset or never answered close_notify: abort below, as Nginx would.
        pass
    finally:
        writer.transport.abort()
