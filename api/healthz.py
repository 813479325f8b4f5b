"""`GET /healthz`, answered from the snapshot before the router sees the request.

Traffic Manager and load balancers call it often; the router's per-request cost would be most
of what it spends, and load must never turn it into a 503 (Traffic Manager would read that as
"take this region out"). The answers are prebuilt with each snapshot: this only looks one up.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from monitor.snapshot import HealthAnswer

__all__ = ["HEALTHZ_HEADERS", "REGION_HEADER", "HealthzLayer"]

REGION_HEADER = "x-regionwatch-region"
HEALTHZ_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
]
_REGION_HEADER = REGION_HEADER.encode()
# Before the service has started (or after it stopped): the monitor fails static.
_STARTING = HealthAnswer(200, b'{"service":"starting"}')


class HealthzLayer:
    """Answers `GET /healthz` (and HEAD) from the running service's snapshot; passes the rest
    on. `app.state.service` is set by the app's lifespan."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != "/healthz"
            or scope["method"] not in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        region = _query_region(scope["query_string"])
        if region is None:
            for name, value in scope["headers"]:
                if name == _REGION_HEADER:
                    region = value.decode("latin-1")
                    break
        service = getattr(self._state, "service", None)
        answer = service.snapshot.health_for(region) if service is not None else _STARTING
        body = answer.body if scope["method"] == "GET" else b""
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": [*HEALTHZ_HEADERS, (b"content-length", str(len(answer.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def answer(self, region: str | None) -> tuple[int, bytes]:
        """The status and body `/healthz` answers for `region`: what `api.fastpath` writes on
        the wire for a fresh connection's single `/healthz` request."""
        service = getattr(self._state, "service", None)
        answer = service.snapshot.health_for(region) if service is not None else _STARTING
        return answer.status_code, answer.body

    # FastAPI's app attributes (openapi, routes, state) stay reachable for tools and tests.
    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


def _query_region(query: bytes) -> str | None:
    for key, value in parse_qsl(query.decode("latin-1")):
        if key == "region" and value:
            return value
    return None
