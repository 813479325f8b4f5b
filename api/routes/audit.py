"""`/api/v1/audit`: the whole audit trail in one place, newest first, filtered and paged: every
decision about an endpoint (the policy's and people's) and every pin, silence and pause as it
started and ended, each with who and why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from api.deps import get_service
from api.models import AUDIT_EXAMPLE, AuditPage, ErrorOut, audit_entry_out
from monitor.audittrail import parse_cursor
from monitor.service import Service

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["failover"])


@router.get(
    "",
    summary="Everything done or asked about failover, with who and why, newest first",
    description="One list of the decisions about endpoints (regionwatch's own and a person's "
    "disable, enable and adoption, with their result and whether forced; "
    "`GET /api/v1/actions/{id}` has each in full) and of the pins, silences and pauses, as "
    "each started and ended (ended by `regionwatch` when it expired). Filter by `region` (its "
    "entries and the pauses, which hold every region) and `since` (ISO 8601); page with "
    "`limit` and `before` (the `next` of the previous page). docs/failover.md says every rule.",
    responses={
        200: {
            "content": {"application/json": {"example": {"entries": [AUDIT_EXAMPLE], "next": None}}}
        },
        422: {"model": ErrorOut, "description": "A filter is not valid"},
        503: {"model": ErrorOut, "description": "The service is not running, or its store failed"},
    },
)
async def audit(
    service: Annotated[Service, Depends(get_service)],
    region: Annotated[
        str | None, Query(max_length=100, description="One region's entries, and the pauses")
    ] = None,
    since: Annotated[datetime | None, Query(description="Entries at or after this time")] = None,
    before: Annotated[
        str | None, Query(max_length=100, description="The `next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    cursor = parse_cursor(before) if before is not None else None
    if before is not None and cursor is None:
        raise HTTPException(422, "before: expected the `next` of a previous page")
    stored = await service.store.trail(
        region=_region(service, region) if region is not None else None,
        since=since,
        before=cursor,
        limit=limit + 1,
    )
    page = stored[:limit]
    more = len(stored) > limit
    return AuditPage(
        entries=[audit_entry_out(e) for e in page], next=page[-1].cursor if more else None
    )


def _region(service: Service, name: str) -> str:
    """The configured region `name` names, in any case; otherwise `name` (which has no
    entries)."""
    wanted = name.strip().lower()
    return next((r for r in service.config.regions if r.lower() == wanted), name)
