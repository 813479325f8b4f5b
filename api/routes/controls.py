"""Operator controls that last: pins (`/api/v1/regions/{name}/pin`, `/unpin`, `/api/v1/pins`),
silences (`/api/v1/silences`) and the global pause (`/api/v1/pause`).

Each change is stored before it is answered (acknowledged means kept, across a restart), then
handed to the engine as evidence, in order with rounds and reads; the answer carries the stored
record. Writes need `api.token`; reads are open unless `api.read_token` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from api.deps import get_service, require_write
from api.models import (
    CONTROL_EXAMPLE,
    ControlOut,
    ControlsOut,
    ErrorOut,
    PauseIn,
    PauseOut,
    PinIn,
    SilenceIn,
    UnpinIn,
    control_out,
)
from monitor.controls import Control, ControlKind, control_id
from monitor.evidence import ControlsChanged
from monitor.service import Service

__all__ = ["router"]

router = APIRouter(tags=["controls"])

# How long an answer waits for the engine to apply the change, so a read right after it sees
# it. Past it the answer goes out anyway: the change is stored and queued.
APPLY_WAIT = 5.0

_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No bearer token"},
    403: {"model": ErrorOut, "description": "Not `api.token`, or no `api.token` is configured"},
    422: {"model": ErrorOut, "description": "The body is not valid (a reason is required)"},
    503: {"model": ErrorOut, "description": "The service is not running, or its store failed"},
}
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorOut, "description": "A filter is not valid"},
    503: _WRITE_ERRORS[503],
}
_NO_REGION: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "The region is not configured"}
}
_ONE = {"content": {"application/json": {"example": CONTROL_EXAMPLE}}}
_LIST = {"content": {"application/json": {"example": {"controls": [CONTROL_EXAMPLE]}}}}
_ALL = Query(description="Include those over (ended or expired), newest first")


# --- pins -------------------------------------------------------------------------------------


@router.post(
    "/regions/{name}/pin",
    status_code=201,
    dependencies=[Depends(require_write)],
    summary="Pin a region where it is, for a while",
    description="No automatic decision about the region until the pin ends (`for`, at most "
    "7d) or it is unpinned: a failing region stays in, one held out stays out. Never stranding "
    "users still overrides it. A new pin replaces the region's current one. Needs "
    "`api.token`; `reason` is required, `by` defaults to `api`.",
    responses={201: _ONE, **_WRITE_ERRORS, **_NO_REGION},
)
async def pin(
    name: Annotated[str, Path(max_length=100)],
    asked: PinIn,
    service: Annotated[Service, Depends(get_service)],
) -> ControlOut:
    region = _region(service, name)
    now = service.clock.now()
    new = Control(
        control_id(ControlKind.PIN, region, now, asked.by, asked.reason),
        ControlKind.PIN,
        region,
        asked.reason,
        asked.by,
        now,
        now + asked.lasting,
    )
    old = service.snapshot.controls.pin(region, now)
    replaced = [old.ended(now, by=asked.by, reason="replaced by a new pin")] if old else []
    await _change(service, started=[new], ended=replaced)
    return control_out(new)


@router.post(
    "/regions/{name}/unpin",
    dependencies=[Depends(require_write)],
    summary="End a region's pin",
    description="The region is judged again at once on the evidence as it stands. Needs "
    "`api.token`; `reason` is required. Answers the pin, ended.",
    responses={
        200: _ONE,
        **_WRITE_ERRORS,
        **_NO_REGION,
        409: {"model": ErrorOut, "description": "The region is not pinned"},
    },
)
async def unpin(
    name: Annotated[str, Path(max_length=100)],
    asked: UnpinIn,
    service: Annotated[Service, Depends(get_service)],
) -> ControlOut:
    region = _region(service, name)
    now = service.clock.now()
    held = service.snapshot.controls.pin(region, now)
    if held is None:
        raise HTTPException(409, f"{region} is not pinned")
    ended = held.ended(now, by=asked.by, reason=asked.reason)
    await _change(service, ended=[ended])
    return control_out(ended)


@router.get(
    "/pins",
    summary="The pins in force (or every pin)",
    description="Pins holding regions where they are, newest first; with `all`, those over "
    "too. A pin without `until` holds a region whose endpoint a person enabled again after "
    "regionwatch disabled it, until the region has recovered: by that person when they did it "
    "through regionwatch, else by `Traffic Manager (someone else)`.",
    responses={200: _LIST, **_READ_ERRORS},
)
async def pins(
    service: Annotated[Service, Depends(get_service)],
    all: Annotated[bool, _ALL] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ControlsOut:
    return await _listed(service, ControlKind.PIN, everything=all, limit=limit)


# --- silences ---------------------------------------------------------------------------------


@router.post(
    "/silences",
    status_code=201,
    dependencies=[Depends(require_write)],
    summary="Silence a region for a while (a maintenance window)",
    description="Until it ends (`for`, at most 7d) or is deleted, the region is neither acted "
    "on nor alerted on (its events carry `evidence.silenced`), and `/healthz` answers 200 for "
    "it. Never stranding users still overrides it. Needs `api.token`; `reason` is required, "
    "`by` defaults to `api`.",
    responses={201: _ONE, **_WRITE_ERRORS, **_NO_REGION},
)
async def silence(
    asked: SilenceIn, service: Annotated[Service, Depends(get_service)]
) -> ControlOut:
    region = _region(service, asked.region)
    now = service.clock.now()
    new = Control(
        control_id(ControlKind.SILENCE, region, now, asked.by, asked.reason),
        ControlKind.SILENCE,
        region,
        asked.reason,
        asked.by,
        now,
        now + asked.lasting,
    )
    await _change(service, started=[new])
    return control_out(new)


@router.get(
    "/silences",
    summary="The silences in force (or every silence)",
    description="Silences in force, newest first; with `all`, those over too.",
    responses={200: _LIST, **_READ_ERRORS},
)
async def silences(
    service: Annotated[Service, Depends(get_service)],
    all: Annotated[bool, _ALL] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ControlsOut:
    return await _listed(service, ControlKind.SILENCE, everything=all, limit=limit)


@router.delete(
    "/silences/{id}",
    dependencies=[Depends(require_write)],
    summary="End a silence before its time",
    description="The region is judged again at once. `reason` (default `ended by hand`) and "
    "`by` (default `api`) are recorded. Answers the silence, ended.",
    responses={
        200: _ONE,
        **_WRITE_ERRORS,
        404: {"model": ErrorOut, "description": "No silence in force has this id"},
    },
)
async def end_silence(
    id: Annotated[str, Path(max_length=100)],
    service: Annotated[Service, Depends(get_service)],
    reason: Annotated[str, Query(min_length=1, max_length=500)] = "ended by hand",
    by: Annotated[str, Query(min_length=1, max_length=100)] = "api",
) -> ControlOut:
    found = service.snapshot.controls.find(id)
    now = service.clock.now()
    if found is None or found.kind is not ControlKind.SILENCE or not found.active(now):
        raise HTTPException(404, f"no silence {id!r} in force (GET /api/v1/silences lists them)")
    ended = found.ended(now, by=_text(by), reason=_text(reason))
    await _change(service, ended=[ended])
    return control_out(ended)


# --- the pause --------------------------------------------------------------------------------


@router.post(
    "/pause",
    status_code=201,
    dependencies=[Depends(require_write)],
    summary="Pause failover: no write to Traffic Manager at all (break-glass)",
    description="At once, nothing more is written: a decision already taken and not yet "
    "written is refused (`paused`), and never stranding users waits too. Decisions due are "
    "shown (`paused` state) and taken, on the evidence as it stands, once resumed. `for` "
    "(at most 7d) ends it by itself; without it, it lasts until `DELETE /api/v1/pause`. A new "
    "pause replaces the current one. Needs `api.token`; `reason` is required.",
    responses={201: _ONE, **_WRITE_ERRORS},
)
async def pause(asked: PauseIn, service: Annotated[Service, Depends(get_service)]) -> ControlOut:
    now = service.clock.now()
    until = now + asked.lasting if asked.lasting is not None else None
    new = Control(
        control_id(ControlKind.PAUSE, None, now, asked.by, asked.reason),
        ControlKind.PAUSE,
        None,
        asked.reason,
        asked.by,
        now,
        until,
    )
    old = service.snapshot.controls.pause(now)
    replaced = [old.ended(now, by=asked.by, reason="replaced by a new pause")] if old else []
    await _change(service, started=[new], ended=replaced)
    return control_out(new)


@router.get(
    "/pause",
    summary="Whether failover is paused, why, by whom and until when",
    responses={
        200: {
            "content": {"application/json": {"example": {"paused": True, "pause": CONTROL_EXAMPLE}}}
        },
        503: _WRITE_ERRORS[503],
    },
)
async def paused(service: Annotated[Service, Depends(get_service)]) -> PauseOut:
    current = service.snapshot.controls.pause(service.clock.now())
    return PauseOut(paused=current is not None, pause=control_out(current) if current else None)


@router.delete(
    "/pause",
    dependencies=[Depends(require_write)],
    summary="Resume failover",
    description="Every region is judged again at once, on the evidence as it stands: what is "
    "due is decided then, afresh, never replayed. `reason` (default `resumed`) and `by` "
    "(default `api`) are recorded. Answers the pause, ended.",
    responses={
        200: _ONE,
        **_WRITE_ERRORS,
        409: {"model": ErrorOut, "description": "Failover is not paused"},
    },
)
async def resume(
    service: Annotated[Service, Depends(get_service)],
    reason: Annotated[str, Query(min_length=1, max_length=500)] = "resumed",
    by: Annotated[str, Query(min_length=1, max_length=100)] = "api",
) -> ControlOut:
    now = service.clock.now()
    current = service.snapshot.controls.pause(now)
    if current is None:
        raise HTTPException(409, "failover is not paused")
    ended = current.ended(now, by=_text(by), reason=_text(reason))
    await _change(service, ended=[ended])
    return control_out(ended)


# --- shared -----------------------------------------------------------------------------------


async def _change(
    service: Service, *, started: list[Control] | None = None, ended: list[Control] | None = None
) -> None:
    """Store, then apply: a change the service acknowledged survives a restart."""
    for control in (*(ended or ()), *(started or ())):
        await service.store.save_control(control)
    # Past the wait it stays queued and is applied in turn.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            service.engine.apply(ControlsChanged(tuple(started or ()), tuple(ended or ()))),
            APPLY_WAIT,
        )


async def _listed(
    service: Service, kind: ControlKind, *, everything: bool, limit: int
) -> ControlsOut:
    if everything:
        stored = await service.store.controls(kind=kind, limit=limit)
        return ControlsOut(controls=[control_out(c) for c in stored])
    active = service.snapshot.controls.active(kind, service.clock.now())
    return ControlsOut(controls=[control_out(c) for c in reversed(active)][:limit])


def _region(service: Service, name: str) -> str:
    """The configured region `name` names, in any case; 404 naming the configured ones."""
    wanted = name.strip().lower()
    found = next((r for r in service.config.regions if r.lower() == wanted), None)
    if found is None:
        known = ", ".join(service.config.regions)
        raise HTTPException(404, f"unknown region {name!r}: configured are {known}")
    return found


def _text(value: str) -> str:
    line = " ".join(value.split())
    if not line or not line.isprintable():
        raise HTTPException(422, "reason and by must be printable text on one line")
    return line
