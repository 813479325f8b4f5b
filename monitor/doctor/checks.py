"""The doctor's checks, in the order a person should read them, and the diagnosis."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from monitor import warnings
from monitor.doctor import cache, deployment, profile
from monitor.doctor.facts import Facts
from monitor.doctor.findings import Finding, ordered
from monitor.doctor.shared import service_warnings

__all__ = ["CHECKS", "Check", "diagnose"]

Check = Callable[[Facts], Iterable[Finding]]

# A new trap is one more function here (and its code in docs/doctor.md). A trap the running
# service can see too is a warning source of `monitor.warnings`, listed here through
# `service_warnings`: its words and its rule are the service's.
CHECKS: tuple[Check, ...] = (
    profile.traffic_manager_unreadable,
    service_warnings(warnings.enforce_cannot_write, warnings.write_access_unknown),
    profile.no_world_fallback,
    service_warnings(warnings.only_world_holder, warnings.always_serve_endpoint),
    profile.healthz_without_region,
    profile.healthz_moves_nobody,
    profile.dns_ttl_too_long,
    cache.policy_never_bypasses_cache,
    cache.cached_probe_path,
    service_warnings(warnings.decider_in_governed_region),
    profile.probe_skips_certificates,
    service_warnings(warnings.no_deploy_marker),
    deployment.store_unreadable,
)


def diagnose(facts: Facts, checks: Sequence[Check] = CHECKS) -> list[Finding]:
    """Every check's findings, the most severe first (in the checks' order within one)."""
    return ordered(finding for check in checks for finding in check(facts))
