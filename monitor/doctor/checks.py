"""The doctor's checks, in the order a person should read them, and the diagnosis."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from monitor.doctor import cache, deployment, profile
from monitor.doctor.facts import Facts
from monitor.doctor.findings import Finding, ordered

__all__ = ["CHECKS", "Check", "diagnose"]

Check = Callable[[Facts], Iterable[Finding]]

# A new trap is one more function here (and its code in docs/doctor.md).
CHECKS: tuple[Check, ...] = (
    profile.traffic_manager_unreadable,
    deployment.enforce_cannot_write,
    profile.no_world_fallback,
    profile.only_world_holder,
    profile.always_serve_endpoint,
    profile.healthz_without_region,
    profile.healthz_moves_nobody,
    profile.dns_ttl_too_long,
    cache.policy_never_bypasses_cache,
    cache.cached_probe_path,
    deployment.decider_in_governed_region,
    profile.probe_skips_certificates,
    deployment.no_deploy_marker,
)


def diagnose(facts: Facts, checks: Sequence[Check] = CHECKS) -> list[Finding]:
    """Every check's findings, the most severe first (in the checks' order within one)."""
    return ordered(finding for check in checks for finding in check(facts))
