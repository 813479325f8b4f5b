"""`/api/v1/observations`: what this instance sees from where it stands, for its peers; and
`/api/v1/peers`: the peers this instance pulls, their health, and every vantage point's latest
verdict of every region (docs/failover.md, "Several vantage points")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import get_service, require_peer
from api.models import ErrorOut
from monitor.observations import failure_of
from monitor.observations import observations as observations_of
from monitor.quorum import SUSPECT_ROUNDS, PeerState, everything_fails
from monitor.results import LOCAL_VANTAGE, RegionVerdict
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


class PeerOut(BaseModel):
    name: str = Field(description="Its vantage point", examples=["centralus"])
    target: str = Field(
        description="Scheme and host of its URL", examples=["https://eu.example.com"]
    )
    state: str = Field(
        description="fresh, waiting, stale, unreachable, unauthenticated or malformed",
        examples=["fresh"],
    )
    counted: bool = Field(description="Whether its observations count toward a quorum now")
    detail: str = Field(description="Why it does not count, one line", examples=[""])
    role: str | None = Field(description="What it says it is", examples=["observer"])
    instance: str | None = None
    last_pull_at: datetime | None = None
    received_at: datetime | None = Field(
        description="When its last usable observations arrived (this host's clock)"
    )


class CellOut(BaseModel):
    vantage: str = Field(examples=["westeurope"])
    region: str = Field(examples=["centralus"])
    status: str = Field(examples=["healthy"])
    age_s: float | None = Field(description="Seconds since the verdict, now", examples=[3.4])
    failure: str | None = None
    counted: bool = Field(description="Fresh, from a vantage point not suspected itself")


class PeersOut(BaseModel):
    vantage: str = Field(description="This instance's vantage point", examples=["decider"])
    role: str = Field(examples=["decider"])
    vantage_points: list[str] = Field(description="This one first, then every configured peer")
    peers: list[PeerOut]
    matrix: list[CellOut] = Field(description="Every vantage point × region, latest verdict")


@router.get(
    "/peers",
    summary="The peers, their health, and every vantage point's latest verdict",
    description="Each configured peer: its state (`fresh` observations count; `stale`, "
    "`unreachable`, `unauthenticated` and `malformed` ones are absent, never a vote), when it "
    "was last pulled and last answered usefully; and the matrix of vantage point × region "
    "with each verdict's age now.",
)
async def peers(service: Annotated[Service, Depends(get_service)]) -> PeersOut:
    config = service.config
    snapshot = service.snapshot
    now = service.clock.now()
    interval = config.checks.https.interval
    vantage = config.vantage or LOCAL_VANTAGE
    regions = list(config.regions)
    window = SUSPECT_ROUNDS * interval
    cells = [
        CellOut(
            vantage=vantage,
            region=view.name,
            status=view.status.value,
            age_s=round((now - view.verdict.decided_at).total_seconds(), 1)
            if view.rounds_done
            else None,
            failure=_failure(view.verdict),
            counted=bool(view.rounds_done),
        )
        for view in snapshot.regions.values()
    ]
    out = []
    for peer in config.peers:
        view = snapshot.peers.get(peer.name)
        if view is None:
            continue
        state = view.state(now, interval)
        fresh = view.fresh(now, interval)
        suspect = everything_fails(view.failed_at, regions, now, window)
        last = view.last
        good = view.good
        detail = view.describe(now, interval)
        if suspect and state is PeerState.FRESH:
            detail = f"sees every region failing within {SUSPECT_ROUNDS} rounds: not counted"
        out.append(
            PeerOut(
                name=peer.name,
                target=_target(peer.url),
                state=state.value,
                counted=state is PeerState.FRESH and not suspect,
                detail=detail,
                role=good.role if good is not None else None,
                instance=good.instance if good is not None else None,
                last_pull_at=last.at if last is not None else None,
                received_at=view.good_at,
            )
        )
        if good is None or view.good_at is None:
            continue
        since = (now - view.good_at).total_seconds()
        for name in regions:
            o = good.observations.get(name)
            if o is None:
                continue
            cells.append(
                CellOut(
                    vantage=peer.name,
                    region=name,
                    status=o.status.value,
                    age_s=round(o.age + since, 1),
                    failure=o.failure.value if o.failure is not None else None,
                    counted=name in fresh and not suspect,
                )
            )
    return PeersOut(
        vantage=vantage,
        role=config.role,
        vantage_points=[vantage, *(p.name for p in config.peers)],
        peers=out,
        matrix=cells,
    )


def _failure(verdict: RegionVerdict) -> str | None:
    failure = failure_of(verdict)
    return failure.value if failure is not None else None


def _target(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"
