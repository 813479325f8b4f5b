"""`/api/v1/alerts`: each alert channel's health and outbox, its dead letters, and a dead
letter's resend (docs/alerts.md).

Reads are open unless `api.read_token` is set; a resend needs `api.token`. Without alert
channels the lists are empty.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Query

from api.alertmodels import (
    ALERTS_EXAMPLE,
    DEAD_LETTER_EXAMPLE,
    AlertsOut,
    DeadLettersPage,
    ResentOut,
    channel_out,
    dead_letter_out,
)
from api.deps import get_service, require_write
from api.models import ErrorOut
from monitor.service import Service

__all__ = ["router"]

router = APIRouter(prefix="/alerts", tags=["alerts"])

log = structlog.get_logger("api.alerts")

_UNAVAILABLE: dict[str, Any] = {
    "model": ErrorOut,
    "description": "The service is not running, or its store failed",
}


@router.get(
    "",
    summary="Every alert channel: where it sends, its health, and its outbox",
    description="Each configured channel (`alerts`), in order: its type, its target (scheme "
    "and host only), its health (`delivering`, `retrying`, `failing`), the store's counts of "
    "its alerts `pending`, `delivered` and `dead` (dead letters), those held in memory only "
    "(when the store refused their events), and since the service started: the last "
    "delivery, the last error, the attempts failed in a row and the alerts given up. Empty "
    "without channels. docs/alerts.md says how alerts are delivered.",
    responses={
        200: {"content": {"application/json": {"example": {"channels": [ALERTS_EXAMPLE]}}}},
        503: _UNAVAILABLE,
    },
)
async def alerts(service: Annotated[Service, Depends(get_service)]) -> AlertsOut:
    alerting = service.alerting
    if alerting is None:
        return AlertsOut(channels=[])
    counts = await service.store.outbox_counts()
    statuses = alerting.statuses
    return AlertsOut(
        channels=[
            channel_out(
                channel,
                statuses.get(channel.name),
                counts.get(channel.name, {}),
                alerting.dispatchers[channel.name].in_memory,
            )
            for channel in service.config.alerts
            if channel.name in alerting.dispatchers
        ]
    )


@router.get(
    "/dead-letters",
    summary="Alerts given up (dead letters), newest first",
    description="Every alert a receiver refused (a 4xx other than 429) or that stayed "
    "undelivered for `alerting.retry_for`, with its event, its attempts and the last error. "
    "Filter by `channel`; page with `limit` and `before` (the `next` of the previous page). "
    "`POST /api/v1/alerts/dead-letters/{key}/resend` queues one again.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"dead_letters": [DEAD_LETTER_EXAMPLE], "next": None}
                }
            }
        },
        422: {"model": ErrorOut, "description": "A filter is not valid"},
        503: _UNAVAILABLE,
    },
)
async def dead_letters(
    service: Annotated[Service, Depends(get_service)],
    channel: Annotated[
        str | None, Query(max_length=100, description="One channel's dead letters")
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, description="The `next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLettersPage:
    stored = await service.store.dead_letters(channel, before=before, limit=limit + 1)
    page = stored[:limit]
    more = len(stored) > limit
    return DeadLettersPage(
        dead_letters=[dead_letter_out(row) for row in page],
        next=int(page[-1]["seq"]) if more else None,
    )


@router.post(
    "/dead-letters/{key}/resend",
    status_code=202,
    dependencies=[Depends(require_write)],
    summary="Send a dead letter again",
    description="Queues the dead letter `key` again, behind the alerts its channel already "
    "holds for the same region, with a fresh retry budget; its channel delivers it (the "
    "receiver deduplicates on the same idempotency key). Logged as `alert_resent` with `by` "
    "(default `api`). Needs `api.token`.",
    responses={
        202: {
            "content": {
                "application/json": {
                    "example": {
                        "key": DEAD_LETTER_EXAMPLE["key"],
                        "channel": "ops",
                        "state": "pending",
                        "by": "alice",
                    }
                }
            }
        },
        401: {"model": ErrorOut, "description": "No bearer token"},
        403: {"model": ErrorOut, "description": "Not `api.token`, or no `api.token` is configured"},
        404: {"model": ErrorOut, "description": "No dead letter has this key"},
        409: {"model": ErrorOut, "description": "Its channel is no longer configured"},
        422: {"model": ErrorOut, "description": "`by` is not one line of text"},
        503: _UNAVAILABLE,
    },
)
async def resend(
    key: Annotated[str, Path(max_length=100, description="The dead letter's key")],
    service: Annotated[Service, Depends(get_service)],
    by: Annotated[
        str, Query(min_length=1, max_length=100, description="Who asks, for the log")
    ] = "api",
) -> ResentOut:
    who = " ".join(by.split())
    if not who or not who.isprintable():
        raise HTTPException(422, "by must be printable text on one line")
    found = await service.store.dead_letters(key=key, limit=1)
    if not found:
        raise HTTPException(
            404, f"no dead letter {key!r} (GET /api/v1/alerts/dead-letters lists them)"
        )
    channel = str(found[0]["channel"])
    alerting = service.alerting
    if alerting is None or channel not in alerting.dispatchers:
        raise HTTPException(
            409, f"channel {channel!r} is no longer configured in alerts: nothing would send it"
        )
    if not await service.store.outbox_resend(key):
        raise HTTPException(404, f"no dead letter {key!r}: it was resent meanwhile")
    log.info("alert_resent", channel=channel, key=key, by=who)
    return ResentOut(key=key, channel=channel, state="pending", by=who)
