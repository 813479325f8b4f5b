"""`/api/v1/regions/{name}/disable | enable | adopt`: a person's commands.

Each is handed to the engine as evidence; the policy decides it (the guard rails apply to a
disable unless `force`), the actuator carries it out like any decision, and the answer is its
audit record: 200 once it is finished (done, dry_run, refused, failed), 202 with its id while
it is still running.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response

from api.deps import get_service, require_write
from api.models import (
    ACTION_EXAMPLE,
    ActionOut,
    ActionResult,
    AdoptIn,
    CommandAccepted,
    CommandIn,
    ErrorOut,
    action_out,
)
from monitor.policy import Action
from monitor.service import Service

__all__ = ["COMMAND_WAIT", "router"]

router = APIRouter(prefix="/regions", tags=["failover"])

# How long an answer waits for the actuator's report: a write is one fresh read and one PATCH,
# seconds; retries of a throttled Traffic Manager can take longer, and then the answer is 202.
COMMAND_WAIT = 10.0

_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Finished: the audit record, whatever its result (`done`, `dry_run`, "
        "`refused` with the guard rail and its words, `failed`)",
        "content": {"application/json": {"example": ACTION_EXAMPLE}},
    },
    202: {
        "model": CommandAccepted,
        "description": "Still being carried out after 10 s: its record is at `Location`",
    },
    401: {"model": ErrorOut, "description": "No bearer token"},
    403: {"model": ErrorOut, "description": "Not `api.token`, or no `api.token` is configured"},
    404: {"model": ErrorOut, "description": "The region is not configured"},
    409: {"model": ErrorOut, "description": "This instance does not act (not the decider)"},
    422: {"model": ErrorOut, "description": "No reason, no `by`, or an unknown key"},
    503: {"model": ErrorOut, "description": "The service is not running, or its store failed"},
}

_Name = Annotated[str, Path(max_length=100, description="A configured region (any case)")]


@router.post(
    "/{name}/disable",
    dependencies=[Depends(require_write)],
    summary="Disable a region's endpoint, by a person's decision",
    description="A person's disable: it passes the same guard rails as the policy's "
    "(`min_enabled`, `coverage`, `receivers`, `rate`, `cooldown`, and on a fresh read of "
    "Traffic Manager) unless `force`, and is recorded as forced then. Once done, the endpoint "
    "is the person's: never enabled automatically, only by a manual enable. Outside enforce "
    "mode it is recorded as dry-run, unless `force`. Needs `api.token`.",
    responses=_ANSWERS,
)
async def disable(
    name: _Name,
    command: CommandIn,
    request: Request,
    response: Response,
    service: Annotated[Service, Depends(get_service)],
) -> ActionOut | CommandAccepted:
    return await _command(service, request, response, Action.DISABLE, name, command)


@router.post(
    "/{name}/enable",
    dependencies=[Depends(require_write)],
    summary="Enable a region's endpoint, by a person's decision",
    description="A person's enable: of an endpoint regionwatch disabled (its hold and back-off "
    "are cleared, and so is the flap limit), or one disabled by someone else. regionwatch then "
    "does not disable the region again until it has recovered. Outside enforce mode it is "
    "recorded as dry-run, unless `force`. Needs `api.token`.",
    responses=_ANSWERS,
)
async def enable(
    name: _Name,
    command: CommandIn,
    request: Request,
    response: Response,
    service: Annotated[Service, Depends(get_service)],
) -> ActionOut | CommandAccepted:
    return await _command(service, request, response, Action.ENABLE, name, command)


@router.post(
    "/{name}/adopt",
    dependencies=[Depends(require_write)],
    summary="Hand a Disabled endpoint to regionwatch",
    description="An endpoint Disabled in Traffic Manager that regionwatch does not own (a "
    "person's, or any after a lost or new store) becomes regionwatch's: enabled again once "
    "its region has recovered, as if regionwatch had disabled it. Nothing is written to "
    "Traffic Manager. Refused (`conflict`) when the endpoint is Enabled or regionwatch's "
    "already. Needs `api.token`.",
    responses=_ANSWERS,
)
async def adopt(
    name: _Name,
    command: AdoptIn,
    request: Request,
    response: Response,
    service: Annotated[Service, Depends(get_service)],
) -> ActionOut | CommandAccepted:
    asked = CommandIn(reason=command.reason, by=command.by)
    return await _command(service, request, response, Action.ADOPT, name, asked)


async def _command(
    service: Service,
    request: Request,
    response: Response,
    action: Action,
    name: str,
    command: CommandIn,
) -> ActionOut | CommandAccepted:
    region = _configured(service, name)
    if region is None:
        known = ", ".join(service.config.regions)
        raise HTTPException(404, f"unknown region {name!r}: configured are {known}")
    if service.actuator is None:
        raise HTTPException(
            409, f"this instance does not act on Traffic Manager (role: {service.config.role})"
        )
    decision_id, finished = await service.command(
        action=action,
        region=region,
        reason=command.reason,
        by=command.by,
        force=command.force,
        wait=COMMAND_WAIT,
    )
    response.headers["Location"] = (
        f"{request.scope.get('root_path', '')}/api/v1/actions/{decision_id}"
    )
    found = await service.store.actions(id=decision_id, limit=1)
    if finished is not None and found:
        return action_out(found[0])
    response.status_code = 202
    return CommandAccepted(
        id=decision_id,
        region=region,
        action=action,
        result=ActionResult.INTENDED,
        detail="still being carried out: its record says how it ends",
    )


def _configured(service: Service, name: str) -> str | None:
    """The configured region `name` names, in any case."""
    wanted = name.strip().lower()
    return next((r for r in service.config.regions if r.lower() == wanted), None)
