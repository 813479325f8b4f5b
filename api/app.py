"""The FastAPI application: probes for Kubernetes and Traffic Manager, and the JSON API.

The API reads the service's state and never runs probes inline. `/healthz` is answered by a
small ASGI layer in front of the router: Traffic Manager and load balancers call it often,
and the router's per-request cost is most of what it would otherwise spend.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.docs import add_offline_docs
from api.pages import dashboard_page
from monitor.errors import StoreError
from monitor.release import RELEASE
from monitor.report import dns_dict, iso, result_dict, traffic_manager_dict, verdict_dict
from monitor.service import Service

__all__ = ["create_app"]

REGION_HEADER = "x-regionwatch-region"
# "failing" is a round's verdict; what the failover policy does about it is a separate state.
VERDICT_FIELDS = (
    "`status` is the verdict of the region's latest round alone: `failing` after a single "
    "round with a failover-level failure, `degraded` with only alert-level failures, "
    "`unknown` when nothing could be judged, else `healthy`. It is not the failover policy's "
    "state: the policy (a later release) acts only after `failover.failing_rounds` "
    "consecutive failing rounds. `reasons` explain the verdict, `checks` are the round's "
    "results, `traffic_manager` is Traffic Manager's view of the region's endpoint, and "
    "`findings` are disagreements with it (not part of the verdict)."
)
_HEALTHZ_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
]


def create_app(
    service: Service, *, manage_lifecycle: bool = True, routers: Sequence[APIRouter] = ()
) -> ASGIApp:
    """The ASGI app for `service`. With `manage_lifecycle`, the app's lifespan starts and
    stops the service (the normal case); without, the caller owns it. `routers` adds
    routes from above this layer (the lab's fault panel)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await service.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await service.stop()

    app = FastAPI(
        title="regionwatch",
        summary="Multi-region health and failover monitor for Azure Traffic Manager",
        version=RELEASE,
        lifespan=lifespan,
        docs_url=None,  # served from the package by add_offline_docs, not from a CDN
        redoc_url=None,
    )
    app.state.service = service
    add_offline_docs(app)

    @app.exception_handler(StoreError)
    async def store_unavailable(_: Request, error: StoreError) -> JSONResponse:
        # The history is unreadable, not the request wrong: 503 in the shape HTTPException
        # gives, with the store's one-line cause and never a traceback or a query.
        return JSONResponse({"detail": str(error)}, status_code=503)

    def require_read(request: Request) -> None:
        _check_token(request, service.config.api.read_token)

    v1 = APIRouter(prefix="/api/v1", dependencies=[Depends(require_read)])

    @app.get("/livez", tags=["probes"], summary="The process is up")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["probes"],
        summary="Scheduler running and first round done",
        description="503 with `problems` while not ready. `warnings` lists what is wrong while"
        " the service stays ready, such as a failing history store.",
    )
    async def readyz() -> JSONResponse:
        problems = service.readiness()
        return JSONResponse(
            {"ready": not problems, "problems": problems, "warnings": service.warnings()},
            status_code=503 if problems else 200,
        )

    @app.get(
        "/healthz",
        tags=["probes"],
        summary="Traffic Manager custom-probe target",
        description="503 only when the policy has decided the region should be out of rotation."
        " The region is ?region=NAME, else the X-Regionwatch-Region header, else api.local_region.",
    )
    async def healthz(request: Request, region: str | None = None) -> Response:
        # Served by HealthzLayer before routing; this route documents it in the OpenAPI schema.
        answer = service.health(region or request.headers.get(REGION_HEADER))
        return Response(answer.body, answer.status_code, headers=dict(_decoded(_HEALTHZ_HEADERS)))

    @v1.get(
        "/regions",
        tags=["regions"],
        summary="Every region's latest verdict",
        description=VERDICT_FIELDS,
    )
    async def regions() -> dict[str, Any]:
        views = service.endpoint_views()
        return {
            "regions": [verdict_dict(v, views.get(v.region)) for v in service.verdicts().values()]
        }

    @v1.get(
        "/regions/{name}",
        tags=["regions"],
        summary="One region, with recent history",
        description=VERDICT_FIELDS
        + " `history` lists earlier rounds' verdicts, newest first; `recent_checks` their checks.",
    )
    async def region(name: str, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
        verdicts = service.verdicts()
        if name not in verdicts:
            raise HTTPException(404, f"unknown region {name!r}")
        history = await service.store.verdicts(name, limit=limit)
        results = await service.store.results(name, limit=limit)
        document = verdict_dict(verdicts[name], service.endpoint_views().get(name))
        document["history"] = [
            {
                "status": v.status.value,
                "decided_at": v.decided_at.isoformat(),
                "reasons": list(v.reasons),
            }
            for v in history
        ]
        document["recent_checks"] = [result_dict(r) for r in results]
        return document

    @v1.get(
        "/traffic-manager",
        tags=["traffic manager"],
        summary="Traffic Manager's last-read profile and whether we may write it",
    )
    async def traffic_manager() -> dict[str, Any]:
        return traffic_manager_dict(service)

    @v1.get("/dns", tags=["dns"], summary="The last DNS round: each resolver × vantage point")
    async def dns() -> dict[str, Any]:
        findings = service.dns_findings
        return {
            "configured": service.dns is not None,
            "checked_at": iso(service.dns_checked_at) if service.dns_checked_at else None,
            "site_nxdomain": service.site_nxdomain,
            "dns": [dns_dict(f) for f in findings],
        }

    @app.get(
        "/",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[Depends(require_read)],
    )
    async def index() -> str:
        refresh = max(1, round(service.config.checks.https.interval.total_seconds()))
        return dashboard_page(
            service.config.site.hostname,
            service.verdicts().values(),
            refresh=refresh,
            views=service.endpoint_views(),
            dns=service.dns_findings,
            warnings=service.warnings(),
            traffic_manager=service.traffic_manager.outage if service.traffic_manager else None,
        )

    app.include_router(v1)
    for router in routers:
        app.include_router(router)
    return HealthzLayer(app, service)


class HealthzLayer:
    """Answers `GET /healthz` from memory before the router sees it; passes the rest on."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

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
                if name == REGION_HEADER.encode():
                    region = value.decode("latin-1")
                    break
        answer = self.service.health(region)
        body = answer.body if scope["method"] == "GET" else b""
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": [*_HEALTHZ_HEADERS, (b"content-length", str(len(answer.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def answer(self, region: str | None) -> tuple[int, bytes]:
        """The status and body `/healthz` answers for `region`: what `api.fastpath` writes
        on the wire for a fresh connection's single `/healthz` request."""
        answer = self.service.health(region)
        return answer.status_code, answer.body

    # FastAPI's app attributes (openapi, routes) stay reachable for tools and tests.
    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


def _query_region(query: bytes) -> str | None:
    for key, value in parse_qsl(query.decode("latin-1")):
        if key == "region" and value:
            return value
    return None


def _decoded(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode(), v.decode()) for k, v in headers]


def _check_token(request: Request, expected: str | None) -> None:
    if expected is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
