"""The dashboard at `/`, its live sections at `/dashboard/fragment`, and its static files.

Both pages are reads (`api.read_token`, when set). The page knows from the app's own routes
whether the live stream is served (the script then listens to it instead of polling) and
whether the lab's fault panel is mounted under /lab (the page then shows it as buttons).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from starlette.routing import Match

from api.dashboardview import DashboardView, dashboard_view
from api.deps import get_service, require_read
from api.pages import STATIC_DIR, dashboard_fragment, dashboard_page
from monitor.service import Service

__all__ = ["LAB_PANEL_ROUTE", "STREAM_ROUTE", "router"]

STREAM_ROUTE = ("GET", "/api/v1/stream")
# A route the fault panel's buttons post to: that it is served means the lab is mounted.
LAB_PANEL_ROUTE = ("POST", "/lab/regions/any/heal")

# Read once at import: the files ship with the package and never change while it runs.
_STATIC = {
    "dashboard.css": ("text/css; charset=utf-8", (STATIC_DIR / "dashboard.css").read_bytes()),
    "dashboard.js": (
        "text/javascript; charset=utf-8",
        (STATIC_DIR / "dashboard.js").read_bytes(),
    ),
}

router = APIRouter(include_in_schema=False)


def _has_route(request: Request, route: tuple[str, str]) -> bool:
    """Whether the app serves `route` (method, path), asked of its router as a request would."""
    method, path = route
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    return any(r.matches(scope)[0] is Match.FULL for r in request.app.router.routes)


async def _view(request: Request, service: Service) -> DashboardView:
    return await dashboard_view(
        service,
        lab=_has_route(request, LAB_PANEL_ROUTE),
        stream=_has_route(request, STREAM_ROUTE),
    )


@router.get("/", response_class=HTMLResponse, dependencies=[Depends(require_read)])
async def dashboard(request: Request, service: Annotated[Service, Depends(get_service)]) -> str:
    return dashboard_page(await _view(request, service))


@router.get(
    "/dashboard/fragment", response_class=HTMLResponse, dependencies=[Depends(require_read)]
)
async def fragment(request: Request, service: Annotated[Service, Depends(get_service)]) -> str:
    return dashboard_fragment(await _view(request, service))


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The page's stylesheet and script: public, like the page's HTML shape (no data in them)."""
    if name not in _STATIC:
        raise HTTPException(404, f"no static file {name!r}")
    media_type, body = _STATIC[name]
    return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})
