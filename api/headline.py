"""The dashboard's first line: the state of the whole site, in words.

Said the way a person on call would say it: which region is failing and since when, and what
Traffic Manager does about it ("westeurope failing since 14:21 UTC — Traffic Manager still sends
GEO-EU (Europe) there"), then degraded regions, then wrong DNS answers, then the all-clear.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.results import RegionStatus
from monitor.snapshot import RegionView, Snapshot
from monitor.trafficmanager.compare import Disagreement

__all__ = ["Headline", "site_headline"]


@dataclass(frozen=True, slots=True)
class Headline:
    """The first line and its level: `failing`, `degraded`, `unknown` or `healthy` (the same
    names, and colours, as a region's verdict)."""

    text: str
    level: str


def site_headline(snapshot: Snapshot) -> Headline:
    """What is wrong with the site first, worst first; the all-clear when nothing is."""
    views = list(snapshot.regions.values())
    paused = snapshot.controls.pause(snapshot.made_at)
    prefix = "Failover paused. " if paused is not None else ""
    failing = [v for v in views if v.status is RegionStatus.FAILING]
    if failing:
        return Headline(prefix + "; ".join(_failing(v, snapshot) for v in failing), "failing")
    wrong_dns = [
        f for f in (snapshot.dns.findings if snapshot.dns is not None else ()) if f.status.wrong
    ]
    degraded = [v for v in views if v.status is RegionStatus.DEGRADED]
    parts = [
        f"{v.name} degraded: {'; '.join(v.verdict.reasons) or 'alert-level findings'}"
        for v in degraded
    ]
    if wrong_dns:
        parts.append(
            f"DNS: {len(wrong_dns)} of {len(snapshot.dns.findings) if snapshot.dns else 0} "
            "answers send users nowhere or to the wrong region"
        )
    if parts:
        return Headline(prefix + "; ".join(parts), "degraded")
    if not views or all(v.status is RegionStatus.UNKNOWN for v in views):
        return Headline(prefix + "Waiting for the first round of checks", "unknown")
    unknown = [v.name for v in views if v.status is RegionStatus.UNKNOWN]
    if unknown:
        return Headline(
            prefix + f"{', '.join(unknown)} cannot be judged: our probes could not reach a verdict",
            "unknown",
        )
    return Headline(prefix + f"All {len(views)} regions healthy", "healthy")


def _failing(view: RegionView, snapshot: Snapshot) -> str:
    since = view.streak.since if view.streak is not None else view.verdict.decided_at
    said = f"{view.name} failing since {since:%H:%M} UTC"
    endpoint = view.endpoint
    state = endpoint.state if endpoint is not None else None
    if endpoint is None or state is None:
        return said
    if not state.enabled:
        return f"{said} — out of Traffic Manager (endpoint Disabled)"
    geography = snapshot.traffic_manager.geography if snapshot.traffic_manager else None
    where = ", ".join(
        geography.describe(code) if geography is not None else code for code in state.geo_mapping
    )
    users = f"sends {where} there" if where else "sends users there"
    if endpoint.disagreement is Disagreement.TM_ONLINE_WE_FAILING:
        return f"{said} — Traffic Manager still {users} (it says Online)"
    return f"{said} — Traffic Manager still {users}"
