"""`/api/v1/observations`: what this instance sees from where it stands, for its peers; and
`/api/v1/peers`: the peers this instance pulls, their health, and every vantage point's latest
verdict of every region (docs/failover.md, "Several vantage points")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import get_service, require_peer
from api.models import ErrorOut
from api.peersview import PeersOut, peers_out
from monitor.observations import observations as observations_of
from monitor.results import LOCAL_VANTAGE
from monitor.service import Service

__all__ = ["router"]

router = APIRouter(tags=["vantage points"])


class ObservationOut(BaseModel):
    region: str = Field(examples=["westeurope"])
    status: str = Field(description="healthy, degraded, failing or unknown", examples=["failing"])
    age_s: float = Field(description="Seconds since the verdict, as of this answer", examples=[2.1])
    failure: str | None = Field(
        description="content (an answer was wrong: the same from anywhere) or transport (only "
        "network failures: depends on the path); null when not failing",
        examples=["transport"],
    )
    reason: str = Field(examples=["home: connection refused"])


class DecisionOut(BaseModel):
    serve: bool = Field(description="What the decider's /healthz answers: false means 503")


class ObservationsOut(BaseModel):
    version: int = Field(examples=[1])
    instance: str = Field(examples=["monitor-eu-7c9f"])
    vantage: str = Field(examples=["westeurope"])
    role: str = Field(description="decider or observer", examples=["observer"])
    observations: list[ObservationOut]
    decisions: dict[str, DecisionOut] | None = Field(
        default=None,
        description="On the decider: each region's /healthz answer; null on an observer",
    )


_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No bearer token"},
    403: {"model": ErrorOut, "description": "A wrong token, or no api.read_token configured"},
}


@router.get(
    "/observations",
    summary="This instance's latest verdict of every region, for its peers",
    description="Each region this process has probed: its latest verdict, how old it is (ages, "
    "never timestamps: the clocks of two hosts disagree), and whether a failure is about "
    "content or transport. On the decider, also each region's /healthz answer, which "
    "observers repeat. Always behind a token (`api.read_token`), loopback included.",
    responses=_AUTH,
    dependencies=[Depends(require_peer)],
)
async def observations(service: Annotated[Service, Depends(get_service)]) -> ObservationsOut:
    config = service.config
    document = observations_of(
        service.snapshot,
        vantage=config.vantage or LOCAL_VANTAGE,
        role=config.role,
        now=service.clock.now(),
    )
    return ObservationsOut.model_validate(document)


@router.get(
    "/peers",
    summary="The peers, their health, and every vantage point's latest verdict",
    description="Each configured peer: its state (`fresh` observations count; `stale`, "
    "`unreachable`, `unauthenticated` and `malformed` ones are absent, never a vote), when it "
    "was last pulled and last answered usefully; and the matrix of vantage point × region "
    "with each verdict's age now; on an observer, whose decisions its /healthz repeats.",
)
async def peers(service: Annotated[Service, Depends(get_service)]) -> PeersOut:
    return peers_out(service.snapshot, service.config, service.clock.now())
