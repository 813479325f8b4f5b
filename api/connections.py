"""Keeping the API's connections from using up the process's file descriptors.

Two rules, enforced together with the listening socket (`api.listener`):

- a connection that has not sent a complete request head within `HEAD_TIMEOUT` seconds
  (after connecting, or after its previous response) is closed;
- at most `cap` API connections are open at once; a new one over the cap is still accepted,
  and the connection that has waited longest without a complete request head is closed.

So a flood of half-sent requests can neither starve `/healthz` (Traffic Manager's probe
target, which is never answered 503 because of load) nor take the descriptors the probes and
the store need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections import OrderedDict
from typing import Any, ClassVar

import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.bursts import BurstLog
from api.fastpath import Answer, healthz_response

__all__ = [
    "CAP_CEILING",
    "HEAD_TIMEOUT",
    "ConnectionGuard",
    "GuardedH11Protocol",
    "connection_cap",
    "protocol_class",
    "raise_open_file_limit",
]

log = structlog.get_logger("api.server")

# Every client we serve (Traffic Manager's probe, kubelet, curl, a browser) sends its request
# head in one write right after connecting; 5 s is generous for a slow link, short enough that
# an attacker holds each descriptor only briefly, and equal to uvicorn's keep-alive timeout,
# so an idle kept-alive connection lives no longer than it did before.
HEAD_TIMEOUT = 5.0
# Beyond a few thousand, more API connections only give an attacker memory and loop time; no
# legitimate client of a monitor's API needs that many at once.
CAP_CEILING = 4096


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; returns (soft, hard) after.
    The soft limit is a default for programs that select() on low descriptors; asyncio uses
    epoll and needs no such care."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        # An unlimited hard limit the kernel will not grant: keep the soft one.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def connection_cap(open_files: int) -> int:
    """How many API connections may be open with `open_files` descriptors in all: half of
    them, so the other half is always left to the probes, DNS, Traffic Manager, the store and
    (in the lab) the origins and the emulator of the same process; at most CAP_CEILING."""
    return max(1, min(open_files // 2, CAP_CEILING))


class ConnectionGuard:
    """The live API connections of one server, and those still waiting for a request head
    (oldest first). Runs on the event loop only."""

    def __init__(self, *, cap: int, head_timeout: float = HEAD_TIMEOUT) -> None:
        if cap < 1 or head_timeout <= 0:
            raise ValueError("the connection cap and the head timeout must be positive")
        self.cap = cap
        self.head_timeout = head_timeout
        self._live: set[GuardedH11Protocol] = set()
        self._waiting: OrderedDict[GuardedH11Protocol, asyncio.TimerHandle] = OrderedDict()
        # Accepted in this turn of the event loop, before their protocol exists.
        self._accepted = 0
        self._accept_failed = False
        self._turn_reset: asyncio.Handle | None = None
        # Set by the server when the app answers /healthz from memory (see api.fastpath).
        self.healthz: Answer | None = None
        self.shed = BurstLog("connection_cap_reached", "connection_cap_relieved")
        self.timed_out = BurstLog("request_head_timed_out", "request_head_timeouts_ended")
        self.accept_errors = BurstLog("accept_failed", "accept_recovered")
        self.invalid = BurstLog("invalid_request_received", "invalid_requests_ended")

    @property
    def open(self) -> int:
        """Connections counted against the cap: live ones and those accepted this turn."""
        return len(self._live) + self._accepted

    # The listening socket's side.

    def may_accept(self, per_turn: int) -> bool:
        """Whether the listener may accept once more in this turn of the loop: after
        `per_turn` accepts or a failed one, the rest wait for the next turn, so protocols are
        made (and counted) and closed descriptors released in between."""
        return not self._accept_failed and self._accepted < per_turn

    def admit(self) -> bool:
        """A connection was accepted: make room under the cap by closing those that waited
        longest for a request head. False when none can be closed: the caller closes the new
        one (every other connection has a request in progress)."""
        self._count_turn()
        self._accepted += 1
        while self.open > self.cap:
            if not self._waiting:
                self._accepted -= 1
                self.shed.note(cap=self.cap)
                return False
            oldest = next(iter(self._waiting))
            self.shed.note(cap=self.cap)
            self._close(oldest)
        return True

    def accept_failed(self, error: OSError) -> None:
        """accept() failed for want of a resource (descriptors, memory): asyncio retries in a
        second; nothing more is tried in this turn."""
        self._count_turn()
        self._accept_failed = True
        self.accept_errors.note(error=error.strerror or str(error), errno=error.errno)

    def _count_turn(self) -> None:
        if self._turn_reset is None:
            # Runs at the start of the next turn, before the accepted sockets get protocols.
            self._turn_reset = asyncio.get_running_loop().call_soon(self._new_turn)

    def _new_turn(self) -> None:
        self._accepted = 0
        self._accept_failed = False
        self._turn_reset = None

    # The protocol's side.

    def created(self, protocol: GuardedH11Protocol) -> None:
        self._live.add(protocol)

    def arm(self, protocol: GuardedH11Protocol) -> None:
        """`protocol` waits for a request head from now on."""
        self.disarm(protocol)
        if protocol in self._live:
            loop = asyncio.get_running_loop()
            self._waiting[protocol] = loop.call_later(self.head_timeout, self._expire, protocol)

    def disarm(self, protocol: GuardedH11Protocol) -> None:
        """`protocol` has a complete request head."""
        timer = self._waiting.pop(protocol, None)
        if timer is not None:
            timer.cancel()

    def lost(self, protocol: GuardedH11Protocol) -> None:
        self.disarm(protocol)
        self._live.discard(protocol)

    def _expire(self, protocol: GuardedH11Protocol) -> None:
        self._waiting.pop(protocol, None)
        self.timed_out.note(head_timeout_s=self.head_timeout)
        self._close(protocol)

    def _close(self, protocol: GuardedH11Protocol) -> None:
        # Forgotten now: abort() releases the descriptor on the next turn of the loop, with
        # nothing to flush (the peer has sent no complete request since the last response).
        self.lost(protocol)
        protocol.transport.abort()

    def flush(self) -> None:
        """Log the bursts still open, and stop the head timers (the server has stopped)."""
        for timer in self._waiting.values():
            timer.cancel()
        self._waiting.clear()
        if self._turn_reset is not None:
            self._turn_reset.cancel()
            self._turn_reset = None
        for burst in (self.shed, self.timed_out, self.accept_errors, self.invalid):
            burst.flush()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, reporting to a `ConnectionGuard` when it waits for a request
    head (from connecting, and again after each response) and when one is complete."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.guard.created(self)
        self._fresh = True
        # uvicorn logs every malformed request at warning: a flood of them is one burst.
        self.logger = _BurstLogger(self.logger, self.guard.invalid)  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        fresh, self._fresh = self._fresh, False
        if fresh and self.guard.healthz is not None:
            response = healthz_response(data, self.guard.healthz)
            if response is not None:
                self.transport.write(response)
                self.guard.arm(self)  # the client owes us its next head, as after any response
                return
        super().data_received(data)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.guard.arm(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.lost(self)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self.flow.write_paused and self.cycle is not None and not self.cycle.response_complete:
            # The peer has stopped reading (a stalled live stream): the rest of the response
            # would never reach it, and waiting for it would hold the stop to the drain
            # deadline, then cut the response with an error. Aborted, the response ends as if
            # the client had gone.
            self.transport.abort()
            return
        super().shutdown()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request head was parsed: a new request began
            self.guard.disarm(self)

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()
        # Unless a pipelined request began already, the client owes us the next head. The
        # keep-alive timer alone would not do: any byte received cancels it.
        if self.cycle is cycle and not self.transport.is_closing():
            self.guard.arm(self)


class _BurstLogger:
    """uvicorn's logger for one connection, with its "Invalid HTTP request received." counted
    in a burst rather than logged per connection; everything else passes through."""

    def __init__(self, logger: logging.Logger, burst: BurstLog) -> None:
        self._logger = logger
        self._burst = burst

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        if msg == "Invalid HTTP request received.":
            self._burst.note()
        else:
            self._logger.warning(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


def protocol_class(guard: ConnectionGuard) -> type[GuardedH11Protocol]:
    """The protocol class for one server (uvicorn takes a class, so the guard rides on it)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": guard})
