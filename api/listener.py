"""The API's listening socket: bound before anything else starts, and accepting under the guard.

Binding first means a busy port ends `regionwatch run` or `lab` with one line before a single
round has run. The socket then goes to uvicorn, and its `accept()` applies the connection cap
(`api.connections`) at the moment a descriptor is taken, not a loop turn later.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from api.connections import ConnectionGuard
from monitor.errors import ListenError

__all__ = ["ACCEPTS_PER_TURN", "BACKLOG", "Listener", "bind_listener"]

# The kernel's queue of connections not yet accepted (uvicorn's default).
BACKLOG = 2048
# Accepts in one turn of the event loop. asyncio would take up to BACKLOG at once, each a
# descriptor, before any protocol could count or close one; this bounds how far the open
# descriptors can overshoot the cap (the cap leaves half the limit free, far more than this).
ACCEPTS_PER_TURN = 32
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

_HINTS = {
    errno.EADDRINUSE: "the address is already in use (another process listens there): stop "
    "it, or choose another port with --port",
    errno.EACCES: "permission denied (ports below 1024 need privileges): choose another "
    "port with --port",
    errno.EADDRNOTAVAIL: "this machine has no such address: use one of its own, 127.0.0.1 "
    "or 0.0.0.0, with --host",
}


class Listener(socket.socket):
    """A listening TCP socket whose `accept()` asks a `ConnectionGuard` first, once one is
    attached (uvicorn's event loop calls `accept()` on this very object)."""

    guard: ConnectionGuard | None = None

    def accept(self) -> tuple[socket.socket, Any]:
        guard = self.guard
        if guard is None:
            return super().accept()
        while True:
            if not guard.may_accept(ACCEPTS_PER_TURN):
                raise BlockingIOError  # asyncio's signal to stop accepting for this turn
            try:
                conn, address = super().accept()
            except OSError as e:
                if e.errno in _OUT_OF_RESOURCES:
                    guard.accept_failed(e)
                raise
            if guard.admit():
                return conn, address
            conn.close()  # every other connection has a request in progress

    @property
    def address(self) -> str:
        """host:port as clients would write it (an IPv6 host in brackets)."""
        host, port = self.getsockname()[:2]
        return f"[{host}]:{port}" if self.family == socket.AF_INET6 else f"{host}:{port}"


def bind_listener(host: str, port: int) -> Listener:
    """Bind and listen on host:port (port 0: an ephemeral one), or raise ListenError."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as e:
        raise ListenError(
            f"cannot listen on {where}: {host!r} is not an address of this machine "
            f"({e.strerror}); use one of its own, 127.0.0.1 or 0.0.0.0, with --host"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = Listener(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        hint = _HINTS.get(e.errno or 0, e.strerror or str(e))
        raise ListenError(f"cannot listen on {where}: {hint}") from None
    sock.setblocking(False)
    return sock
