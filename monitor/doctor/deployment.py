"""The traps in how regionwatch itself is deployed: where the decider runs, whether it may
write, and whether deploys are marked."""

from __future__ import annotations

from collections.abc import Iterator

from monitor.doctor.facts import Facts
from monitor.doctor.findings import Finding
from monitor.doctor.profile import acts, governed
from monitor.events import Severity

__all__ = [
    "decider_in_governed_region",
    "enforce_cannot_write",
    "no_deploy_marker",
]


def enforce_cannot_write(facts: Facts) -> Iterator[Finding]:
    """Enforce mode, and the permissions check says the identity may not write the endpoints
    (`enforce_cannot_write`), or the check itself failed (`write_access_unknown`)."""
    access = facts.access
    if access is None:
        return
    if access.access is None:
        yield Finding(
            "write_access_unknown",
            Severity.WARNING,
            "failover.mode",
            f"enforce mode, and whether the identity may write the profile's endpoints is "
            f"unknown: the permissions check failed ({facts.config.scrubbed(access.detail)})",
            "read the error (Resource Manager unreachable, throttled, the listing refused) and "
            "run the doctor again",
        )
    elif not access.can_write:
        yield Finding(
            "enforce_cannot_write",
            Severity.CRITICAL,
            "failover.mode",
            f"enforce mode, but the identity may not write the profile's endpoints "
            f"({access.detail}): every disable would fail",
            "give the identity the Traffic Manager Contributor role on the profile "
            "(docs/traffic-manager.md#roles), or set failover.mode: dry-run",
        )


def decider_in_governed_region(facts: Facts) -> Iterator[Finding]:
    """The decider runs in a region it fails over (`api.local_region` or `vantage` names it):
    when that whole region is lost, the one instance that could take it out is lost with it."""
    config, profile = facts.config, facts.profile
    if not acts(config):
        return
    ours = set(governed(config, profile).values()) if profile is not None else set(config.regions)
    named = [("api.local_region", config.api.local_region), ("vantage", config.vantage)]
    for key, region in named:
        if region is None or region not in ours:
            continue
        yield Finding(
            "decider_in_governed_region",
            Severity.WARNING,
            key,
            f"the decider runs in {region} ({key}), a region it fails over: if the whole "
            f"region is lost, the decider goes with it and {region}'s endpoint is never "
            "disabled (under Geographic routing its users then get a dead region)",
            "run the decider where none of the regions it governs can take it down, with "
            "observers in the regions (docs/architecture.md)",
        )
        return  # one finding: both keys name where the same instance runs


def no_deploy_marker(facts: Facts) -> Iterator[Finding]:
    """No deploy marker was ever posted (or the store does not exist yet), or the store cannot
    be read to tell."""
    config, store = facts.config, facts.store
    if store is None or not acts(config):
        return
    without = config.failover.failing_rounds_without_deploy
    outside = (
        "nothing is taken out outside a deploy window"
        if without is None
        else f"outside one a disable takes {without} failing rounds"
    )
    fix = (
        "post a marker after each region's rollout: regionwatch deploy --region NAME "
        "--version VERSION (or POST /api/v1/deploys)"
    )
    if store.error is not None:
        yield Finding(
            "store_unreadable",
            Severity.WARNING,
            "storage.path",
            f"the store could not be read to find deploy markers: {store.error}",
            "check storage.path and that this user may read the file and its folder; the "
            "service would not start on a store it cannot use",
        )
    elif not store.exists:
        yield Finding(
            "no_deploy_marker",
            Severity.INFO,
            "deploys",
            f"the store at {config.scrubbed(str(store.path))} does not exist yet, so no deploy "
            f"marker was ever posted: deploy windows will open only when a new release is "
            f"detected, and {outside}",
            fix,
        )
    elif store.marker_posted is False:
        yield Finding(
            "no_deploy_marker",
            Severity.INFO,
            "deploys",
            "no deploy marker was ever posted: deploy windows open only when a new release is "
            f"detected, and {outside}",
            fix,
        )
