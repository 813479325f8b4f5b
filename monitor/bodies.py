"""Bodies read from outside, read up to a bound: an answer never costs more memory than the
largest answer that makes sense (a DNS message, a profile, a peer's observations).

Over the bound is `BodyTooLarge`: the read stops at once (the connection is dropped rather than
drained) and the caller reports it as an error of that source.
"""

from __future__ import annotations

import httpx

__all__ = ["BodyTooLarge", "declared_length", "read_bounded", "size_text"]


class BodyTooLarge(Exception):
    """An answer larger than its bound. The message names what was read and the bound."""

    def __init__(self, what: str, limit: int, *, declared: int | None = None) -> None:
        said = f" (it declared {declared} bytes)" if declared is not None else ""
        super().__init__(f"{what} is larger than {size_text(limit)}{said}")
        self.limit = limit


def size_text(size: int) -> str:
    """`65535 bytes`, `4 MiB`: a bound as people read it."""
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1 << 10 and size % (1 << 10) == 0:
        return f"{size >> 10} KiB"
    return f"{size} bytes"


def declared_length(value: str | None) -> int | None:
    """A Content-Length header's value, or None when absent or not a number."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


async def read_bounded(response: httpx.Response, limit: int, *, what: str) -> bytes:
    """The body of a streamed `response` (`client.stream(...)`), at most `limit` bytes as they
    came on the wire. Raises BodyTooLarge for a Content-Length above `limit`, before reading,
    or as soon as more than `limit` bytes have arrived."""
    declared = declared_length(response.headers.get("content-length"))
    if declared is not None and declared > limit:
        raise BodyTooLarge(what, limit, declared=declared)
    body = bytearray()
    # Raw bytes: a compressed body is counted as sent, never inflated past the bound.
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(what, limit)
    return bytes(body)
