"""`/api/v1/actions`: the failover policy's audit trail, newest first, filtered and paged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from api.deps import get_service
from api.models import ACTION_EXAMPLE, ActionOut, ActionResult, ActionsPage, ErrorOut, action_out
from monitor.service import Service

__all__ = ["router"]

router = APIRouter(prefix="/actions", tags=["failover"])


@router.get(
    "",
    summary="The failover policy's decisions and what became of them, newest first",
    description="Every decision to disable or enable a region's Traffic Manager endpoint: "
    "carried out (`done`), recorded only (`dry_run`), refused by a guard rail (`refused`, "
    "with the `guard` and the geographies it would have left without an answer), `failed` "
    "after the retries, `superseded` (too old to carry out after a restart), or still "
    "`intended`. Each has its reason in words, its evidence, the mode, the attempts and the "
    "instance that decided. Filter by `region`, `status` (the `result`) and `since` "
    "(ISO 8601, on `decided_at`); page with `limit` and `before` (the `next` of the previous "
    "page). docs/failover.md says every rule.",
    responses={
        200: {
            "content": {
                "application/json": {"example": {"actions": [ACTION_EXAMPLE], "next": None}}
            }
        },
        422: {"model": ErrorOut, "description": "A filter is not valid"},
        503: {"model": ErrorOut, "description": "The service is not running, or its store failed"},
    },
)
async def actions(
    service: Annotated[Service, Depends(get_service)],
    region: Annotated[str | None, Query(description="One region's decisions")] = None,
    status: Annotated[ActionResult | None, Query(description="One result")] = None,
    since: Annotated[
        datetime | None, Query(description="Decisions taken at or after this time")
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, description="The `next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ActionsPage:
    stored = await service.store.actions(
        region=region,
        status=status.value if status is not None else None,
        since=since,
        before=before,
        limit=limit + 1,
    )
    page = stored[:limit]
    more = len(stored) > limit
    return ActionsPage(actions=[action_out(r) for r in page], next=page[-1].seq if more else None)


@router.get(
    "/{id}",
    summary="One decision and what became of it",
    description="The decision with this id (the `Location` of a person's command).",
    responses={
        200: {"content": {"application/json": {"example": ACTION_EXAMPLE}}},
        404: {"model": ErrorOut, "description": "No decision has this id"},
        422: {"model": ErrorOut, "description": "The id is longer than any decision's"},
        503: {"model": ErrorOut, "description": "The service is not running, or its store failed"},
    },
)
async def action(
    id: Annotated[str, Path(max_length=100, description="The decision's id")],
    service: Annotated[Service, Depends(get_service)],
) -> ActionOut:
    found = await service.store.actions(id=id, limit=1)
    if not found:
        raise HTTPException(404, f"no decision {id!r}")
    return action_out(found[0])
