"""The probes: `/livez` for the process, `/readyz` for Kubernetes, `/healthz` for Traffic
Manager (answered by `api.healthz.HealthzLayer` before routing; the route here documents it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from api.deps import get_snapshot
from api.healthz import HEALTHZ_HEADERS, REGION_HEADER
from api.models import ReadinessOut, warning_out
from monitor.events import Severity
from monitor.snapshot import Snapshot

__all__ = ["router"]

router = APIRouter(tags=["probes"])


@router.get("/livez", summary="The process is up")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Scheduler running, first round done, and in enforce mode write access confirmed",
    description="503 with `problems` while not ready. `warnings` lists what is wrong while"
    " the service stays ready, such as a failing history store or a configuration under which"
    " failover can never act, one line each; `details` has every warning with its stable"
    " `code` and `severity` (`info` ones too).",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut}},
)
async def readyz(snapshot: Annotated[Snapshot, Depends(get_snapshot)]) -> JSONResponse:
    body = ReadinessOut(
        ready=snapshot.ready,
        problems=list(snapshot.readiness),
        # `warnings` is what to alert on when it is not empty: an `info` warning (no deploy
        # marker yet) would keep such an alert firing on a service that is fine.
        warnings=[w.text for w in snapshot.warnings if w.severity is not Severity.INFO],
        details=[warning_out(w) for w in snapshot.warnings],
    )
    return JSONResponse(body.model_dump(), status_code=200 if snapshot.ready else 503)


@router.get(
    "/healthz",
    summary="Traffic Manager custom-probe target",
    description="503 only when the failover policy has decided the region should be out of"
    " rotation; 200 otherwise (the monitor fails static). The region is ?region=NAME, else the"
    " X-Regionwatch-Region header, else api.local_region, else the answer is about the"
    " service itself. docs/healthz.md gives the answer for every state and Traffic Manager's"
    " monitor settings.",
    responses={
        200: {
            "description": "Keep the region in rotation",
            "content": {
                "application/json": {
                    "example": {
                        "region": "westeurope",
                        "serve": True,
                        "status": "failing",
                        "policy": "counting",
                    }
                }
            },
        },
        503: {
            "description": "Take the region out: the failover policy holds it out (enforce mode)",
            "content": {
                "application/json": {
                    "example": {
                        "region": "westeurope",
                        "serve": False,
                        "status": "failing",
                        "policy": "out",
                    }
                }
            },
        },
    },
)
async def healthz(
    request: Request,
    snapshot: Annotated[Snapshot, Depends(get_snapshot)],
    region: str | None = None,
) -> Response:
    answer = snapshot.health_for(region or request.headers.get(REGION_HEADER))
    headers = {k.decode(): v.decode() for k, v in HEALTHZ_HEADERS}
    return Response(answer.body, answer.status_code, headers=headers)
