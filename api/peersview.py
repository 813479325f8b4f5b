"""The peers this instance pulls, their health, and every vantage point's latest verdict of
every region, built from one snapshot: what `GET /api/v1/peers` answers, the dashboard's
"Vantage points" panel shows and `/metrics` exposes (one building, never three).

Ages are as of `now` (the service's clock when asked), never the peers' clocks: a peer's
reported age plus the time since its document arrived.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from monitor.config import Config
from monitor.observations import failure_of
from monitor.policy import everything_fails_from_here
from monitor.quorum import DECIDER_UNREACHABLE, SUSPECT_ROUNDS, sights
from monitor.redaction import safe_url
from monitor.results import LOCAL_VANTAGE, RegionVerdict
from monitor.snapshot import Snapshot

__all__ = ["CellOut", "PeerOut", "PeersOut", "peers_out"]


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
    decider: str | None = Field(
        default=None,
        description="On an observer: the vantage point of the decider whose decisions its "
        "/healthz repeats, or `unreachable` when no fresh decision is known (/healthz then "
        "answers 200); null on the decider",
        examples=["westeurope"],
    )
    vantage_points: list[str] = Field(description="This one first, then every configured peer")
    peers: list[PeerOut]
    matrix: list[CellOut] = Field(description="Every vantage point × region, latest verdict")


def peers_out(snapshot: Snapshot, config: Config, now: datetime) -> PeersOut:
    """Every configured peer's health and the matrix of vantage point × region (this
    instance's cells first), as of `now`."""
    interval = config.checks.https.interval
    vantage = config.vantage or LOCAL_VANTAGE
    regions = list(config.regions)
    policy = snapshot.policy
    # What the policy counts, read the way it reads it: its own rounds unless every region
    # fails from here (docs/failover.md), and each peer's sight (fresh, not suspect).
    suspect_here = policy is not None and everything_fails_from_here(policy, config, now)
    cells = [
        CellOut(
            vantage=vantage,
            region=view.name,
            status=view.status.value,
            age_s=round((now - view.verdict.decided_at).total_seconds(), 1)
            if view.rounds_done
            else None,
            failure=_failure(view.verdict),
            counted=bool(view.rounds_done) and not suspect_here,
        )
        for view in snapshot.regions.values()
    ]
    seen = {
        s.name: s
        for s in sights(snapshot.peers, [p.name for p in config.peers], regions, now, interval)
    }
    out = []
    for peer in config.peers:
        view = snapshot.peers.get(peer.name)
        if view is None:
            continue
        sight = seen[peer.name]
        counted = sight.observations is not None and not sight.suspect
        last = view.last
        good = view.good
        detail = view.describe(now, interval)
        if sight.suspect:
            detail = f"sees every region failing within {SUSPECT_ROUNDS} rounds: not counted"
        out.append(
            PeerOut(
                name=peer.name,
                target=safe_url(peer.url),
                state=view.state(now, interval).value,
                counted=counted,
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
                    counted=counted and name in (sight.observations or {}),
                )
            )
    return PeersOut(
        vantage=vantage,
        role=config.role,
        decider=_decider(snapshot, regions) if config.role == "observer" else None,
        vantage_points=[vantage, *(p.name for p in config.peers)],
        peers=out,
        matrix=cells,
    )


def _decider(snapshot: Snapshot, regions: Sequence[str]) -> str:
    """Whose decisions this observer's /healthz repeats, read from the answers it serves (so
    this never tells a different story from /healthz itself)."""
    for name in regions:
        try:
            body = json.loads(snapshot.health_for(name).body)
        except ValueError:
            continue
        decider = body.get("decider") if isinstance(body, dict) else None
        if isinstance(decider, str):
            return decider
    return DECIDER_UNREACHABLE


def _failure(verdict: RegionVerdict) -> str | None:
    failure = failure_of(verdict)
    return failure.value if failure is not None else None
