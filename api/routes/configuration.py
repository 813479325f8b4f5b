"""`/api/v1/config`: the configuration the service runs with, secrets hidden."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import get_service
from api.models import CONFIG_EXAMPLE, ConfigOut, ErrorOut
from monitor.effective import effective_config
from monitor.release import RELEASE
from monitor.service import Service

__all__ = ["router"]

router = APIRouter(tags=["configuration"])


@router.get(
    "/config",
    summary="The effective configuration, secrets hidden",
    description="What the service runs with: the configuration file with every default "
    "filled in. Hidden (`***`, and listed in `hidden`): `api.token`, `api.read_token`, "
    "`peers[].token`, `alerts[].secret`, the path of `alerts[].url` (a webhook's secret), and "
    "probe headers that carry credentials; URL credentials and query values anywhere are "
    "`***`; a value taken from the environment is shown as its `${NAME}`. Credentials that "
    "never enter the file (Azure's, from the environment) are never shown.",
    responses={
        200: {"content": {"application/json": {"example": CONFIG_EXAMPLE}}},
        503: {"model": ErrorOut, "description": "The service is not running"},
    },
)
async def config(service: Annotated[Service, Depends(get_service)]) -> ConfigOut:
    shown = effective_config(service.config)
    return ConfigOut(release=RELEASE, configuration=shown.values, hidden=list(shown.hidden))
