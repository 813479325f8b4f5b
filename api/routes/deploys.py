"""`/api/v1/deploys`: deploy markers posted after each region's rollout, and every deploy
listed, marked or detected.

A marker is stored before it is answered (a marker the service acknowledged survives a
restart), then handed to the engine, which opens the region's deploy window.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from api.deps import get_service, require_write
from api.models import DEPLOY_EXAMPLE, DeployIn, DeployOut, DeploysOut, ErrorOut, deploy_out
from monitor.deploys import Deploy, DeploySource
from monitor.evidence import DeployMarked
from monitor.service import Service

__all__ = ["router"]

router = APIRouter(prefix="/deploys", tags=["deploys"])

# How long an answer waits for the engine to apply the marker, so a read right after it sees
# the window open. Past it the answer goes out anyway: the marker is stored and queued.
APPLY_WAIT = 5.0

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No bearer token"},
    403: {"model": ErrorOut, "description": "Not `api.token`, or no `api.token` is configured"},
    503: {"model": ErrorOut, "description": "The service is not running, or its store failed"},
}


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(require_write)],
    summary="Mark a deploy of one region",
    description="Post after each region's rollout (`regionwatch deploy` does): it opens the "
    "region's deploy window, `deploys.lead` before now until `failover.deploy_window` after, "
    "in which `failover.failing_rounds` failing rounds are enough to disable the region. "
    "Needs `api.token` as a bearer token. `region` must be configured (any case); `version` "
    "is 1–100 printable characters, `note` up to 500, `by` up to 100 (default `api`). The "
    "marker is stored before the answer, recorded as a `deploy.recorded` event, and answered "
    "with `Location` naming it.",
    responses={
        201: {
            "description": "Stored; the window is open",
            "headers": {
                "Location": {"description": "The marker's URL", "schema": {"type": "string"}}
            },
            "content": {"application/json": {"example": DEPLOY_EXAMPLE}},
        },
        **_ERRORS,
        404: {"model": ErrorOut, "description": "The region is not configured"},
        422: {"model": ErrorOut, "description": "The body is not a valid marker"},
    },
)
async def mark(
    marker: DeployIn,
    request: Request,
    response: Response,
    service: Annotated[Service, Depends(get_service)],
) -> DeployOut:
    region = _configured(service, marker.region)
    if region is None:
        known = ", ".join(service.config.regions)
        raise HTTPException(404, f"unknown region {marker.region!r}: configured are {known}")
    at = service.clock.now()
    deploy = Deploy(
        id=_marker_id(region, marker.version, at, marker.note, marker.by),
        region=region,
        version=marker.version,
        at=at,
        source=DeploySource.MARKER,
        note=marker.note,
        by=marker.by,
    )
    await service.store.record_deploy(deploy)  # before the answer: acknowledged means kept
    # Past the wait it stays queued and is applied in turn: the answer need not wait for a
    # busy engine.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(service.engine.apply(DeployMarked(deploy)), APPLY_WAIT)
    response.headers["Location"] = (
        f"{request.scope.get('root_path', '')}/api/v1/deploys/{deploy.id}"
    )
    return deploy_out(deploy)


@router.get(
    "",
    summary="Deploys, marked and detected, newest first",
    description="Every deploy the policy knows of: markers (`source: marker`, posted with "
    "`POST /api/v1/deploys` or `regionwatch deploy`) and new releases the probes saw on the "
    "origin path (`source: detected`). Filter by `region` and `since` (ISO 8601).",
    responses={
        200: {"content": {"application/json": {"example": {"deploys": [DEPLOY_EXAMPLE]}}}},
        422: {"model": ErrorOut, "description": "A filter is not valid"},
        503: _ERRORS[503],
    },
)
async def deploys(
    service: Annotated[Service, Depends(get_service)],
    region: Annotated[str | None, Query(description="One region's deploys")] = None,
    since: Annotated[datetime | None, Query(description="Deploys at or after this time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeploysOut:
    stored = await service.store.deploys(region=region, since=since, limit=limit)
    return DeploysOut(deploys=[deploy_out(d) for d in stored])


@router.get(
    "/{id}",
    summary="One deploy",
    description="The deploy with this id (the `Location` of a posted marker).",
    responses={
        200: {"content": {"application/json": {"example": DEPLOY_EXAMPLE}}},
        404: {"model": ErrorOut, "description": "No deploy has this id"},
        422: {"model": ErrorOut, "description": "The id is longer than any deploy's"},
        503: _ERRORS[503],
    },
)
async def deploy(
    id: Annotated[str, Path(max_length=100, description="The deploy's id")],
    service: Annotated[Service, Depends(get_service)],
) -> DeployOut:
    found = await service.store.deploys(id=id, limit=1)
    if not found:
        raise HTTPException(404, f"no deploy {id!r}")
    return deploy_out(found[0])


def _configured(service: Service, name: str) -> str | None:
    """The configured region `name` names, in any case (as `/healthz` takes it)."""
    wanted = name.strip().lower()
    return next((r for r in service.config.regions if r.lower() == wanted), None)


def _marker_id(region: str, version: str, at: datetime, note: str, by: str) -> str:
    """The same marker (a retry at the same instant) has the same id; any other, its own."""
    text = "|".join(("marker", region, version, at.isoformat(), note, by))
    return hashlib.sha256(text.encode()).hexdigest()[:20]
