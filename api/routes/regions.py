"""`/api/v1/regions`: every region's latest verdict, and one region with its history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from api.deps import get_service, get_snapshot
from api.models import (
    ChecksPage,
    ErrorOut,
    HistoryItemOut,
    RegionDetailOut,
    RegionsOut,
    check_out,
    control_out,
    region_out,
)
from monitor.service import Service
from monitor.snapshot import Snapshot

__all__ = ["VERDICT_FIELDS", "router"]

router = APIRouter(prefix="/regions", tags=["regions"])

# "failing" is a round's verdict; what the failover policy does about it is a separate state.
VERDICT_FIELDS = (
    "`status` is the verdict of the region's latest round alone: `failing` after a single "
    "round with a failover-level failure, `degraded` with only alert-level failures, "
    "`unknown` when nothing could be judged, else `healthy`. It is not the failover policy's "
    "state: the policy acts only after `failover.failing_rounds` consecutive failing rounds "
    "(in a deploy window; `failover.failing_rounds_without_deploy` outside one). `reasons` "
    "explain the verdict, `checks` are the round's results, `streak` counts the rounds in a "
    "row with this status, `traffic_manager` is Traffic Manager's view of the region's "
    "endpoint, and `findings` are disagreements with it (not part of the verdict). `policy` "
    "is what the failover policy holds about the region: its `state`, the `reason` in words, "
    "what it would do `next`, the `failing` or `healthy` tally, since when it is held out "
    "(`out_since`), a person's decision that stands (`operator`), the latest deploy `window` "
    "and a decision `pending`."
)


@router.get(
    "",
    summary="Every region's latest verdict and the failover policy's state",
    description=VERDICT_FIELDS,
    responses={503: {"model": ErrorOut}},
)
async def regions(snapshot: Annotated[Snapshot, Depends(get_snapshot)]) -> RegionsOut:
    policy = snapshot.policy
    pause = snapshot.controls.pause(snapshot.made_at)
    return RegionsOut(
        regions=[region_out(view, policy) for view in snapshot.regions.values()],
        pause=control_out(pause) if pause is not None else None,
    )


@router.get(
    "/{name}",
    summary="One region, with recent history",
    description=VERDICT_FIELDS
    + " `history` lists earlier rounds' verdicts, newest first; `recent_checks` their checks.",
    responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
async def region(
    name: str,
    service: Annotated[Service, Depends(get_service)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> RegionDetailOut:
    snapshot = service.snapshot
    view = snapshot.regions.get(name)
    if view is None:
        raise HTTPException(404, f"unknown region {name!r}")
    history = await service.store.verdicts(name, limit=limit)
    results = await service.store.results(name, limit=limit)
    return RegionDetailOut(
        **region_out(view, snapshot.policy).model_dump(),
        history=[
            HistoryItemOut(status=v.status, decided_at=v.decided_at, reasons=list(v.reasons))
            for v in history
        ],
        recent_checks=[check_out(r) for r in results],
    )


@router.get(
    "/{name}/checks",
    summary="One region's check results over time, newest first, filtered and paged",
    description="Every stored result of the region's checks (the retention is "
    "`storage.retention`). Filter by `check` (its name) and a time range on `started_at`: "
    "`since` (included) and `until` (excluded), ISO 8601; page with `limit` and `before` (the "
    "`next` of the previous page).",
    responses={
        404: {"model": ErrorOut, "description": "The region is not configured"},
        422: {"model": ErrorOut, "description": "A filter is not valid"},
        503: {"model": ErrorOut, "description": "The service is not running, or its store failed"},
    },
)
async def region_checks(
    name: str,
    service: Annotated[Service, Depends(get_service)],
    check: Annotated[str | None, Query(max_length=100, description="One check's results")] = None,
    since: Annotated[datetime | None, Query(description="Started at or after this time")] = None,
    until: Annotated[datetime | None, Query(description="Started before this time")] = None,
    before: Annotated[
        int | None, Query(ge=1, description="The `next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ChecksPage:
    if name not in service.snapshot.regions:
        raise HTTPException(404, f"unknown region {name!r}")
    stored = await service.store.result_page(
        name, check=check, since=since, until=until, before=before, limit=limit + 1
    )
    page = stored[:limit]
    more = len(stored) > limit
    return ChecksPage(checks=[check_out(r) for _, r in page], next=page[-1][0] if more else None)
