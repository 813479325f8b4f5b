"""`/healthz` answered on the wire: a fresh connection whose first bytes are one complete
`GET /healthz` (or HEAD) gets its answer written at once; the connection then goes on as any
other (h11 has seen nothing yet, so the next request is its first).

Traffic Manager's probes and the kubelet open a connection per probe and send the request
head in one segment. Under a flood of complete requests on other connections, the event loop
is busy with the attackers' requests, and a probe's request that went through the ASGI stack
would need several turns of the loop behind them; answered here, it needs the one turn in
which its bytes arrive. Anything else (a partial head, a body, pipelined requests, an
unusual header) goes the usual way, where the same answer comes from the same snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

__all__ = ["Answer", "healthz_response"]

# (status code, body) for a region (None: no region named).
Answer = Callable[[str | None], tuple[int, bytes]]

_REQUEST_LINE = re.compile(rb"^(GET|HEAD) (/healthz(?:\?[^ ]*)?) HTTP/1\.[01]$")
_HEADER = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*?)[ \t]*$")
_REASONS = {200: b"OK", 503: b"Service Unavailable"}
_REFUSED = frozenset({b"content-length", b"transfer-encoding", b"expect", b"upgrade"})
MAX_HEAD = 8192


def healthz_response(data: bytes, answer: Answer) -> bytes | None:
    """The whole response to `data` when it is exactly one complete `/healthz` request head;
    None when it is anything else."""
    if len(data) > MAX_HEAD or not data.endswith(b"\r\n\r\n") or data.count(b"\r\n\r\n") != 1:
        return None
    lines = data[:-4].split(b"\r\n")
    request = _REQUEST_LINE.match(lines[0])
    if request is None:
        return None
    method, target = request.groups()
    region = None
    _, _, query = target.partition(b"?")
    for key, value in parse_qsl(query.decode("latin-1")):
        if key == "region" and value:
            region = value
            break
    for line in lines[1:]:
        header = _HEADER.match(line)
        if header is None:
            return None
        name = header.group(1).lower()
        if name in _REFUSED:
            return None  # a body or a protocol change: the usual path handles it
        if name == b"x-regionwatch-region" and region is None:
            region = header.group(2).decode("latin-1") or None
    status, body = answer(region)
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncache-control: no-store\r\n"
        b"content-length: %d\r\n\r\n" % (status, _REASONS.get(status, b"Unknown"), len(body))
    )
    return head + body if method == b"GET" else head
