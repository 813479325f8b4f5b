"""A small HTTPS/1.1 server on asyncio streams and h11, run as a task of the caller's loop.

Enough for the Azure SDKs (keep-alive, Content-Length bodies) and nothing more; it starts on an
ephemeral loopback port and stops cleanly, closing kept-alive connections too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

__all__ = ["Handler", "HttpRequest", "HttpResponse", "HttpsServer", "StreamedBody"]

_log = logging.getLogger(__name__)

_CHUNK = 65536
_MAX_BODY = 1 << 20
_IDLE_TIMEOUT = 120.0  # ARM's front door keeps idle connections about this long
_HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str  # as sent: path and query, percent-encoded
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


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: StreamedBody | None = None  # instead of `body`: sent chunked, as it is made

    @classmethod
    def of_json(
        cls, status: int, payload: object, headers: Sequence[tuple[str, str]] = ()
    ) -> HttpResponse:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, [("Content-Type", "application/json; charset=utf-8"), *headers])

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class HttpsServer:
    """Serves `handler` over TLS on `host`; port 0 picks a free one (see `port` once started)."""

    def __init__(
        self, handler: Handler, context: ssl.SSLContext, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._handler = handler
        self._context = context
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("already started")
        self._server = await asyncio.start_server(
            self._accept,
            self._host,
            self._port,
            ssl=self._context,
            ssl_handshake_timeout=_HANDSHAKE_TIMEOUT,
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end every connection, idle kept-alive ones included."""
        if self._server is None:
            return
        self._server.close()
        while self._connections:
            for task in self._connections:
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback starting our own task: stop() must be able to cancel it.
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        graceful = True
        try:
            while True:
                async with asyncio.timeout(_IDLE_TIMEOUT):
                    request = await self._read(conn, reader)
                if request is None:
                    return
                response = await self._answer(request)
                await self._send(conn, writer, response, reader)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return  # Connection: close
                conn.start_next_cycle()
        except asyncio.CancelledError:
            graceful = False
            raise
        except h11.RemoteProtocolError as exc:
            with contextlib.suppress(h11.LocalProtocolError, OSError):
                await self._send(
                    conn, writer, HttpResponse.of_json(exc.error_status_hint, {"error": str(exc)})
                )
        except (OSError, TimeoutError) as exc:
            _log.debug("connection_ended: %r", exc)
        finally:
            await _close(writer, graceful=graceful)

    async def _answer(self, request: HttpRequest) -> HttpResponse:
        try:
            return await self._handler(request)
        except Exception:
            _log.exception("handler_failed method=%s target=%s", request.method, request.target)
            return HttpResponse.of_json(
                500, {"error": {"code": "InternalServerError", "message": "emulator bug"}}
            )

    async def _read(self, conn: h11.Connection, reader: asyncio.StreamReader) -> HttpRequest | None:
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
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _send(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        response: HttpResponse,
        reader: asyncio.StreamReader | None = None,
    ) -> None:
        headers = [
            (k, v) for k, v in response.headers if k.lower() not in ("content-length", "date")
        ]
        headers.append(("Date", formatdate(usegmt=True)))
        if response.stream is not None and reader is not None:
            await self._send_streamed(conn, reader, writer, response, headers)
            return
        headers.append(("Content-Length", str(len(response.body))))
        data = conn.send(h11.Response(status_code=response.status, headers=headers))
        data += conn.send(h11.Data(data=response.body)) if response.body else b""
        data += conn.send(h11.EndOfMessage())
        writer.write(data)
        await writer.drain()

    async def _send_streamed(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        response: HttpResponse,
        headers: list[tuple[str, str]],
    ) -> None:
        body = response.stream
        assert body is not None
        headers.append(("Transfer-Encoding", "chunked"))
        writer.write(conn.send(h11.Response(status_code=response.status, headers=headers)))
        try:
            await self._send_chunks(conn, reader, writer, body)
        finally:
            body.done = True

    async def _send_chunks(
        self,
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


async def _close(writer: asyncio.StreamWriter, *, graceful: bool) -> None:
    try:
        if graceful and not writer.transport.is_closing():
            writer.close()
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
    except (OSError, TimeoutError):
        pass  # the peer went away or never answered close_notify: abort below
    finally:
        writer.transport.abort()
