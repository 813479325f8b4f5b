"""The dashboard at `/`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from api.deps import get_service, require_read
from api.pages import dashboard_page
from monitor.service import Service

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(require_read)]
)
async def dashboard(service: Annotated[Service, Depends(get_service)]) -> str:
    refresh = max(1, round(service.config.checks.https.interval.total_seconds()))
    return dashboard_page(service.config.site.hostname, service.snapshot, refresh=refresh)
