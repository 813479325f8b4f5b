"""What a lab resolver received and what it asked Traffic Manager, for tests and the dashboard."""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["QueryRecord", "RequestLog", "Transport"]


class Transport(enum.StrEnum):
    UDP = "udp"
    TCP = "tcp"
    DOT = "dot"  # DNS over TLS, RFC 7858
    DOH = "doh"  # DNS over HTTPS, RFC 8484


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One query, as received and as answered.

    Subnets are `address/source-prefix-length` as on the wire (`81.2.69.0/24`), None when the
    option was absent. `upstream_subnet` is what the resolver sent Traffic Manager, None when it
    did not ask (a fault, another name); `upstream_transport` says how the answer came back
    (`tcp` after a truncated UDP answer). `rcode` is None when the resolver stayed silent.
    """

    transport: Transport
    qname: str  # as asked, without the final dot
    qtype: str  # "A", "AAAA", ...
    client_subnet: str | None
    upstream_subnet: str | None = None
    upstream_transport: Transport | None = None
    rcode: str | None = None  # "NOERROR", "NXDOMAIN", "SERVFAIL", ...
    fault: str | None = None  # the fault that shaped the answer, if any
    truncated: bool = False  # sent over UDP with TC=1 (too big, or the truncate fault)
    error: str = ""  # why asking Traffic Manager failed, when it did


class RequestLog:
    """The most recent `size` queries, oldest first."""

    def __init__(self, size: int = 10_000) -> None:
        self._records: deque[QueryRecord] = deque(maxlen=size)

    def append(self, record: QueryRecord) -> None:
        self._records.append(record)

    def clear(self) -> None:
        self._records.clear()

    def last(self) -> QueryRecord:
        """The latest record; IndexError when nothing was received."""
        return self._records[-1]

    def __iter__(self) -> Iterator[QueryRecord]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)
