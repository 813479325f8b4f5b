"""The SDK's HTTP transport with every answer read up to a bound (ARM's and Entra ID's alike),
in size and in time.

azure-core's `RequestsTransport` takes a `requests.Session`; ours carries a response hook that
refuses a Content-Length above the bound before anything is read, and wraps the body so that
reading stops (and the connection is dropped) as soon as more than the bound has arrived. The
hook runs before requests reads a non-streamed body, so no answer is ever held whole first.

Within `answer_deadline(at)`, every request the thread sends must be answered by `at`: its
connect and read timeouts are cut to the time left, and the body is read piece by piece as it
arrives, the deadline checked at each piece, so an answer dripping in a byte at a time ends
at the deadline in the worker thread too, not only for the caller who stopped waiting.

`AnswerTooLarge` and `AnswerTooSlow` pass through requests and azure-core untouched;
`monitor.trafficmanager.azure` turns them into ERROR reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from monitor.bodies import BodyTooLarge, declared_length

__all__ = [
    "ANSWER_LIMIT",
    "AnswerTooLarge",
    "AnswerTooSlow",
    "answer_deadline",
    "bounded_transport",
    "deadline_passed",
]

# A profile with 200 endpoints is well under 1 MiB; a token answer is a few KiB.
ANSWER_LIMIT = 4 << 20


class AnswerTooLarge(BodyTooLarge):
    """An answer from Azure larger than the bound."""


class AnswerTooSlow(Exception):
    """An answer from Azure not whole by the deadline of `answer_deadline`."""


# The deadline of the call this thread is making (time.monotonic()); each call has a thread.
_deadline = threading.local()


@contextmanager
def answer_deadline(at: float) -> Iterator[None]:
    """Within the block, this thread's requests through a `bounded_transport` end by `at`
    (`time.monotonic()`), with AnswerTooSlow or a timeout of the transport's own."""
    _deadline.at = at
    try:
        yield
    finally:
        _deadline.at = None


def deadline_passed() -> bool:
    """Whether this thread is inside `answer_deadline` and its deadline has passed."""
    left = _time_left()
    return left is not None and left <= 0


def _time_left() -> float | None:
    at: float | None = getattr(_deadline, "at", None)
    return None if at is None else at - time.monotonic()


def bounded_transport(*, limit: int = ANSWER_LIMIT, **options: Any) -> Any:
    """A `RequestsTransport` (owning its session) whose answers are read up to `limit` bytes;
    `options` are the transport's own (connection_timeout, read_timeout, connection_verify)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests import PreparedRequest, Response
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class DeadlineAdapter(HTTPAdapter):
        """Connect and read timeouts cut to the time left before the thread's deadline."""

        def send(
            self,
            request: PreparedRequest,
            stream: bool = False,
            timeout: float | tuple[float | None, float | None] | None = None,
            verify: bool | str = True,
            cert: str | tuple[str, str] | None = None,
            proxies: dict[str, str] | None = None,
        ) -> Response:
            timeout = _within_deadline(timeout, request.url)
            return super().send(request, stream, timeout, verify, cert, proxies)

    session = requests.Session()
    # As azure-core sets up a session of its own: no urllib3 retries (ours are in
    # call_with_retries), and the environment's proxy settings honoured.
    adapter = DeadlineAdapter(max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # The bound counts bytes as they are decoded: nothing compressed to inflate past it.
    session.headers["Accept-Encoding"] = "identity"
    session.hooks["response"].append(lambda response, *_, **__: _bounded(response, limit))
    return RequestsTransport(session=session, session_owner=True, **options)


def _within_deadline(timeout: Any, url: str | None) -> Any:
    """`timeout` (requests' seconds, or a (connect, read) pair) with each part cut to the time
    left; AnswerTooSlow when none is left."""
    left = _time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise AnswerTooSlow(f"{_what_at(url)} was not asked for: the deadline had passed")
    if isinstance(timeout, tuple):
        return tuple(left if part is None else min(part, left) for part in timeout)
    if timeout is None or isinstance(timeout, int | float):
        return left if timeout is None else min(timeout, left)
    return timeout  # a urllib3 Timeout: azure-core never passes one


def _bounded(response: Any, limit: int) -> Any:
    declared = declared_length(response.headers.get("Content-Length"))
    if declared is not None and declared > limit:
        response.close()
        raise AnswerTooLarge(_what(response), limit, declared=declared)
    if deadline_passed():
        response.close()
        raise AnswerTooSlow(f"{_what(response)} was not whole by the deadline")
    response.raw = _BoundedBody(response.raw, limit, _what(response), _time_left())
    return response


def _what(response: Any) -> str:
    return _what_at(getattr(response.request, "url", None))


def _what_at(url: str | None) -> str:
    host = (url or "").split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    return f"the answer from {host}" if host else "the answer"


class _BoundedBody:
    """urllib3's response body, counted and timed: past `limit` bytes, or once the deadline
    `time_left` seconds from now has passed, the connection is dropped and AnswerTooLarge or
    AnswerTooSlow raised. Everything else is the wrapped response's."""

    def __init__(self, raw: Any, limit: int, what: str, time_left: float | None) -> None:
        deadline = None if time_left is None else time.monotonic() + time_left
        object.__setattr__(self, "_raw", raw)
        object.__setattr__(self, "_limit", limit)
        object.__setattr__(self, "_what", what)
        object.__setattr__(self, "_deadline", deadline)
        object.__setattr__(self, "_seen", 0)

    def stream(self, amt: int | None = 2**16, decode_content: bool | None = None) -> Any:
        # read1, not read: read(amt) waits for `amt` bytes, so a body dripping in would be
        # checked only once it had all come; read1 hands over each piece as it arrives.
        while data := self._raw.read1(amt, decode_content=decode_content):
            self._count(len(data))
            yield data

    def read(self, amt: int | None = None, *args: Any, **kwargs: Any) -> Any:
        if amt is None:
            # A whole read would hold everything first: read in pieces, counting.
            return b"".join(self.stream(2**16, decode_content=kwargs.get("decode_content")))
        data = self._raw.read(amt, *args, **kwargs)
        self._count(len(data))
        return data

    def _count(self, size: int) -> None:
        seen = self._seen + size
        object.__setattr__(self, "_seen", seen)
        if seen > self._limit:
            self._drop()
            raise AnswerTooLarge(self._what, self._limit)
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._drop()
            raise AnswerTooSlow(f"{self._what} was not whole by the deadline")

    def _drop(self) -> None:
        # An endless or dripping answer cannot be drained: drop the connection.
        self._raw.close()
        self._raw.release_conn()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._raw, name, value)
