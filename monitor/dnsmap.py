"""DNS answers → regions and statuses: which region users are sent to, and whether that is right.

Answers are placed by region address, by Traffic Manager endpoint target (an IP, or a hostname
met as a CNAME hop), and by the region's own name as a hop. `failover` means another region
answers because the expected one is out of rotation in a way that explains it for the
profile's routing method (Disabled under Geographic; Disabled or Degraded under Priority).
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config import Config
from monitor.probes.dns import DnsAnswer, Hop
from monitor.results import DnsStatus
from monitor.trafficmanager.model import MonitorStatus, ProfileState

__all__ = ["DnsFinding", "judge_answer", "place"]


@dataclass(frozen=True, slots=True)
class DnsFinding:
    """One resolver × vantage point, judged (the `dns` items of `check --json`)."""

    answer: DnsAnswer
    status: DnsStatus
    region: str | None
    expected_region: str | None
    reason: str


def place(
    addresses: tuple[str, ...], hops: tuple[Hop, ...], config: Config, profile: ProfileState | None
) -> str | None:
    """The region these addresses and CNAME hops belong to; None when we cannot place them."""
    by_key: dict[str, str] = {}
    for region, settings in config.regions.items():
        by_key[settings.address.lower().rstrip(".")] = region
        if profile is not None:
            endpoint = profile.endpoint(config.endpoint_of(region))
            if endpoint is not None and endpoint.target:
                by_key.setdefault(endpoint.target.lower().rstrip("."), region)
    found = [by_key[a.lower()] for a in addresses if a.lower() in by_key]
    if found:
        return found[0]
    for hop in reversed(hops):  # the hop nearest the address is the most specific
        placed = by_key.get(hop.target.lower().rstrip("."))
        if placed is not None:
            return placed
    return None


def judge_answer(
    answer: DnsAnswer,
    *,
    expected: str | None,
    config: Config,
    profile: ProfileState | None,
) -> DnsFinding:
    def finding(status: DnsStatus, region: str | None, reason: str) -> DnsFinding:
        return DnsFinding(answer, status, region, expected, reason)

    if answer.failure is not None:
        return finding(answer.failure, None, answer.reason)
    if not answer.addresses:
        return finding(DnsStatus.NODATA, None, f"no address for {config.site.hostname}")
    region = place(answer.addresses, answer.hops, config, profile)
    if answer.vantage is not None and not answer.ecs_scope:
        # Scope 0 or no option: the resolver ignored the subnet, so this answer says where the
        # resolver is, not where the vantage point's users are sent.
        return finding(
            DnsStatus.UNKNOWN, region, "ECS not honoured: the resolver ignored the client subnet"
        )
    if region is None:
        shown = ", ".join(answer.addresses)
        return finding(DnsStatus.UNKNOWN, None, f"cannot place {shown} in a region")
    if expected is None or region == expected:
        return finding(DnsStatus.OK, region, "")
    why = _out_of_rotation(expected, config, profile)
    if why is not None:
        return finding(DnsStatus.FAILOVER, region, f"sent to {region}: {expected} is {why}")
    return finding(DnsStatus.MISMATCH, region, f"sent to {region}, expected {expected}")


def _out_of_rotation(region: str, config: Config, profile: ProfileState | None) -> str | None:
    if profile is None:
        return None
    endpoint = profile.endpoint(config.endpoint_of(region))
    if endpoint is None:
        return None
    if not endpoint.enabled:
        return "Disabled in Traffic Manager"
    method = profile.routing_method.lower()
    if (
        method in ("priority", "weighted", "performance")
        and endpoint.monitor_status is MonitorStatus.DEGRADED
    ):
        return "Degraded in Traffic Manager"
    return None
