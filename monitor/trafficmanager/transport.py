"""The SDK's HTTP transport with every answer read up to a bound (ARM's and Entra ID's alike).

azure-core's `RequestsTransport` takes a `requests.Session`; ours carries a response hook that
refuses a Content-Length above the bound before anything is read, and wraps the body so that
reading stops (and the connection is dropped) as soon as more than the bound has arrived. The
hook runs before requests reads a non-streamed body, so no answer is ever held whole first.
`AnswerTooLarge` passes through requests and azure-core untouched; `monitor.trafficmanager.azure`
turns it into an ERROR read.
"""

from __future__ import annotations

from typing import Any

from monitor.bodies import BodyTooLarge, declared_length

__all__ = ["ANSWER_LIMIT", "AnswerTooLarge", "bounded_transport"]

# A profile with 200 endpoints is well under 1 MiB; a token answer is a few KiB.
ANSWER_LIMIT = 4 << 20


class AnswerTooLarge(BodyTooLarge):
    """An answer from Azure larger than the bound."""


def bounded_transport(*, limit: int = ANSWER_LIMIT, **options: Any) -> Any:
    """A `RequestsTransport` (owning its session) whose answers are read up to `limit` bytes;
    `options` are the transport's own (connection_timeout, read_timeout, connection_verify)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    # As azure-core sets up a session of its own: no urllib3 retries (ours are in
    # call_with_retries), and the environment's proxy settings honoured.
    adapter = HTTPAdapter(max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # The bound counts bytes as they are decoded: nothing compressed to inflate past it.
    session.headers["Accept-Encoding"] = "identity"
    session.hooks["response"].append(lambda response, *_, **__: _bounded(response, limit))
    return RequestsTransport(session=session, session_owner=True, **options)


def _bounded(response: Any, limit: int) -> Any:
    declared = declared_length(response.headers.get("Content-Length"))
    if declared is not None and declared > limit:
        response.close()
        raise AnswerTooLarge(_what(response), limit, declared=declared)
    response.raw = _BoundedBody(response.raw, limit, _what(response))
    return response


def _what(response: Any) -> str:
    host = getattr(response.request, "url", "") or ""
    host = host.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    return f"the answer from {host}" if host else "the answer"


class _BoundedBody:
    """urllib3's response body, counted: past `limit` bytes the connection is dropped and
    AnswerTooLarge raised. Everything else is the wrapped response's."""

    def __init__(self, raw: Any, limit: int, what: str) -> None:
        object.__setattr__(self, "_raw", raw)
        object.__setattr__(self, "_limit", limit)
        object.__setattr__(self, "_what", what)
        object.__setattr__(self, "_seen", 0)

    def stream(self, amt: int | None = 2**16, decode_content: bool | None = None) -> Any:
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            self._count(len(chunk))
            yield chunk

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
            self._raw.close()  # an endless answer cannot be drained: drop the connection
            self._raw.release_conn()
            raise AnswerTooLarge(self._what, self._limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._raw, name, value)
