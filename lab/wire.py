"""HTTP/1.1 server plumbing over asyncio streams for the lab's servers: h11 in, bytes out, resets."""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import sys
import termios
from dataclasses import dataclass

import h11

from lab.nginx import BYPASS_HEADER, Reply, Request, error_page, reason_phrase

__all__ = [
    "ReceivedRequest",
    "close",
    "read_request",
    "reset",
    "send_error",
    "send_reply",
]

# How long a graceful close may take (the TLS close_notify exchange) before we abort.
_CLOSE_GRACE = 1.0
_CHUNK = 65536
_BYPASS = BYPASS_HEADER.lower().encode("ascii")  # h11 lower-cases header names


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    request: Request
    head: bool  # a HEAD request: the reply is sent without its body


def _origin_form(target: str) -> str:
    # Absolute-form targets (`GET https://host/path`) are legal; Nginx routes on their path.
    if target.startswith("/"):
        return target
    _, _, rest = target.partition("://")
    path = rest[rest.find("/") :] if "/" in rest else "/"
    return path


async def read_request(
    conn: h11.Connection, reader: asyncio.StreamReader
) -> ReceivedRequest | None:
    """The next complete request (its body read and dropped), or None when the client closed.

    Raises h11.RemoteProtocolError on a malformed request.
    """
    request: h11.Request | None = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(_CHUNK))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            bypass = any(
                name == _BYPASS and value.strip() == b"1" for name, value in request.headers
            )
            return ReceivedRequest(
                Request(
                    method=request.method.decode("ascii"),
                    target=_origin_form(request.target.decode("ascii", errors="replace")),
                    bypass=bypass,
                ),
                head=request.method == b"HEAD",
            )
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            # PAUSED cannot happen at the start of a cycle; treated as the end, never a spin.
            return None
        # h11.Data (a request body) is read and dropped; nothing here needs it.


def _response(reply: Reply) -> h11.Response:
    # h11 sends an empty reason phrase unless told; Nginx always sends one.
    reason = reason_phrase(reply.status).encode("ascii")
    return h11.Response(status_code=reply.status, headers=reply.headers, reason=reason)


async def send_reply(
    conn: h11.Connection, writer: asyncio.StreamWriter, reply: Reply, *, head: bool
) -> None:
    data = conn.send(_response(reply))
    if not head:
        data += conn.send(h11.Data(data=reply.body))
    data += conn.send(h11.EndOfMessage())
    writer.write(data)
    await writer.drain()


async def send_error(conn: h11.Connection, writer: asyncio.StreamWriter, status: int) -> None:
    """Answer an unparseable request as Nginx does (400 and close), if h11 still lets us."""
    body = error_page(status)
    headers = [
        ("Server", "nginx"),
        ("Content-Type", "text/html"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    try:
        await send_reply(conn, writer, Reply(status, headers, body), head=False)
    except h11.LocalProtocolError:
        # A response was already under way: closing is the only answer left.
        return


def _unsent_bytes(sock: socket.socket) -> int:
    if sys.platform != "linux":
        return 0
    # On Linux TIOCOUTQ (= SIOCOUTQ) on a TCP socket counts bytes sent but not yet acknowledged.
    raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
    unsent: int = struct.unpack("i", raw)[0]
    return unsent


async def reset(conn: h11.Connection, writer: asyncio.StreamWriter, reply: Reply) -> None:
    """Send the head and half the body of `reply`, then reset the connection (RST, not FIN)."""
    data = conn.send(_response(reply)) + conn.send(
        h11.Data(data=reply.body[: len(reply.body) // 2])
    )
    writer.write(data)
    await writer.drain()
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


async def close(writer: asyncio.StreamWriter, *, graceful: bool = True) -> None:
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
