"""The FastAPI application: probes for Kubernetes and Traffic Manager, the JSON API by resource,
and the dashboard.

The app's lifespan owns the service: it enters `build_service(config)` (the one composition
root, shared with `check` and the lab), starts the schedule, and leaves it on the way out.
Routes read the engine's snapshot (and the store for history) through `api.deps`; they never
run a probe. `/healthz` is answered by a small ASGI layer in front of the router.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

from fastapi import APIRouter, Depends, FastAPI
from starlette.types import ASGIApp

from api.deps import require_read
from api.docs import add_offline_docs
from api.errors import add_error_handlers
from api.healthz import HealthzLayer
from api.metrics import Metrics
from api.openapi import complete_openapi
from api.routes import (
    actions,
    alerts,
    audit,
    checks,
    commands,
    configuration,
    controls,
    dashboard,
    deploys,
    events,
    metrics,
    observations,
    probes,
    regions,
    signin,
)
from api.sessions import Sessions
from api.stream import StreamHub, StreamSettings
from api.stream import router as stream_router
from monitor.config import Config
from monitor.release import RELEASE
from monitor.service import Service, build_service

__all__ = ["ServiceFactory", "create_app", "lifespan_of"]

ServiceFactory = Callable[[Config], AbstractAsyncContextManager[Service]]


def create_app(
    config: Config,
    *,
    build: ServiceFactory = build_service,
    schedule: bool = True,
    routers: Sequence[APIRouter] = (),
    stream: StreamSettings | None = None,
) -> ASGIApp:
    """The ASGI app for `config`. Its lifespan enters `build(config)` (`build_service` unless a
    test gives its own, with a manual clock say) and, with `schedule`, starts the rounds.
    `routers` adds routes from above this layer (the lab's fault panel); `stream` replaces the
    live stream's limits."""
    streams = StreamHub(stream)

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        async with build(config) as service:
            service.engine.subscribe("metrics", collected.observe)
            if schedule:
                service.start()
            streams.attach(service.engine)
            app.state.service = service
            try:
                yield
            finally:
                streams.close()
                app.state.service = None

    app = FastAPI(
        title="regionwatch",
        summary="Multi-region health and failover monitor for Azure Traffic Manager",
        version=RELEASE,
        lifespan=lifespan,
        docs_url=None,  # served from the package by add_offline_docs, not from a CDN
        redoc_url=None,
    )
    app.state.service = None
    app.state.streams = streams
    app.state.sessions = Sessions()  # a key of this process's own: a restart signs people out
    # Per app, never the process-wide default registry: two apps in one process (tests, the
    # lab) must not share or collide on series.
    collected = Metrics(lambda: app.state.service)
    app.state.metrics = collected
    add_offline_docs(app)
    add_error_handlers(app)
    complete_openapi(app)
    app.include_router(probes.router)
    app.include_router(metrics.router)
    v1 = APIRouter(prefix="/api/v1", dependencies=[Depends(require_read)])
    v1.include_router(regions.router)
    v1.include_router(commands.router)
    v1.include_router(checks.router)
    v1.include_router(events.router)
    v1.include_router(deploys.router)
    v1.include_router(actions.router)
    v1.include_router(audit.router)
    v1.include_router(alerts.router)
    v1.include_router(observations.router)
    v1.include_router(controls.router)
    v1.include_router(stream_router)
    v1.include_router(configuration.router)
    app.include_router(v1)
    app.include_router(dashboard.router)
    app.include_router(signin.router)
    for router in routers:
        app.include_router(router)
    return HealthzLayer(app, app.state)


def lifespan_of(app: ASGIApp) -> AbstractAsyncContextManager[None]:
    """The app's lifespan as a context manager, for a caller that serves the app with the
    server's own lifespan handling off: what the lifespan raises (a `StoreError` at start)
    then reaches the caller, before anything listens."""
    fastapi_app: Any = app.app if isinstance(app, HealthzLayer) else app
    return cast(AbstractAsyncContextManager[None], fastapi_app.router.lifespan_context(fastapi_app))
