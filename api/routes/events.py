"""`/api/v1/events`: the stored events, newest first, filtered and paged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import get_service
from api.models import ErrorOut, EventsPage, event_out
from monitor.events import EventType
from monitor.eventstore import EventQuery
from monitor.service import Service

__all__ = ["router"]

router = APIRouter(prefix="/events", tags=["events"])


@router.get(
    "",
    summary="State changes as stored events, newest first",
    description="Every change the engine saw: a region failing, degraded or recovered, Traffic "
    "Manager disagreeing, DNS answers going wrong or failing over, a certificate expiring, "
    "the monitor going blind, configuration drift. Filter by `type`, `region` and `since` "
    "(ISO 8601); page with `limit` and `before` (the `next` of the previous page). "
    "docs/events.md describes every type.",
    responses={503: {"model": ErrorOut}},
)
async def events(
    service: Annotated[Service, Depends(get_service)],
    type: Annotated[EventType | None, Query(description="One event type")] = None,
    region: Annotated[str | None, Query(description="One region's events")] = None,
    since: Annotated[datetime | None, Query(description="Events at or after this time")] = None,
    before: Annotated[
        int | None, Query(ge=1, description="The `next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventsPage:
    stored = await service.store.events(
        EventQuery(type=type, region=region, since=since, before=before, limit=limit + 1)
    )
    page = stored[:limit]
    more = len(stored) > limit
    return EventsPage(events=[event_out(s) for s in page], next=page[-1].seq if more else None)
