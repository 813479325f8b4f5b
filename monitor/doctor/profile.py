"""The traps in the live Traffic Manager profile that only the doctor checks: how it routes,
what it probes, how long its answers live. (Which of its endpoints regionwatch can actually take
out is the service's own warnings: see `monitor.doctor.shared`.)

Under Geographic routing a Degraded endpoint keeps its traffic: the only failover is a disable,
and only a parent geography (usually WORLD) held by another enabled endpoint catches the users.
Under Priority, Weighted and Performance routing Traffic Manager moves users itself, so the
WORLD traps and the "a 503 moves nobody" notice do not apply there.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

from monitor.doctor.facts import Facts
from monitor.doctor.findings import Finding
from monitor.events import Severity
from monitor.trafficmanager.model import EndpointState, ProfileState
from monitor.warnings import governed_endpoints, policy_acts

__all__ = [
    "REGION_HEADER",
    "dns_ttl_too_long",
    "healthz_moves_nobody",
    "healthz_without_region",
    "no_world_fallback",
    "probe_skips_certificates",
    "traffic_manager_unreadable",
]

# The header a Traffic Manager probe of /healthz names its endpoint's region with.
REGION_HEADER = "X-Regionwatch-Region"
_HEALTHZ = "/healthz"


def _geographic(profile: ProfileState) -> bool:
    return profile.routing_method.lower() == "geographic"


def _maps_world(endpoint: EndpointState) -> bool:
    return "WORLD" in (code.upper() for code in endpoint.geo_mapping)


def traffic_manager_unreadable(facts: Facts) -> Iterator[Finding]:
    """The profile could not be read: none of its traps were checked, and the service would
    be as blind."""
    tm = facts.config.traffic_manager
    if tm is None or facts.profile_error is None:
        return
    yield Finding(
        "traffic_manager_unreadable",
        Severity.CRITICAL,
        f"traffic_manager.profile {tm.profile}",
        f"the Traffic Manager profile {tm.profile} could not be read ({facts.profile_error}); "
        "its traps were not checked, and the service could neither see nor act on it",
        "check traffic_manager.subscription_id, resource_group and profile, and that the "
        "identity has at least the Reader role on the profile (docs/traffic-manager.md#roles); "
        "then run the doctor again",
    )


def no_world_fallback(facts: Facts) -> Iterator[Finding]:
    """Geographic, and no enabled endpoint maps WORLD: users outside every mapped geography get
    no answer, and a disabled region's users have no parent geography to fall back to."""
    profile = facts.profile
    if profile is None or not _geographic(profile):
        return
    holders = [e for e in profile.endpoints if _maps_world(e)]
    if any(e.enabled for e in holders):
        return
    why = (
        f"WORLD is mapped only by Disabled endpoint(s) {', '.join(e.name for e in holders)}"
        if holders
        else "no endpoint maps WORLD"
    )
    yield Finding(
        "no_world_fallback",
        Severity.CRITICAL,
        profile.name,
        f"profile {profile.name} routes by geography and {why}: users outside every mapped "
        "geography get no answer at all, and no disable can pass the coverage guard rail "
        "(a disabled region's users would have nowhere to go)",
        "map WORLD to one enabled endpoint, or to a nested profile holding several "
        "(az network traffic-manager endpoint update ... --geo-mapping WORLD)",
    )


def dns_ttl_too_long(facts: Facts) -> Iterator[Finding]:
    """The profile's TTL is longer than the slower of the two times to act on a failure
    (regionwatch's `failing_rounds` × `checks.https.interval`, Traffic Manager's tolerated
    failures × probing interval): resolvers then keep users on a region taken out for longer
    than it took to notice, more than doubling their outage."""
    profile, config = facts.profile, facts.config
    if profile is None or profile.ttl is None:
        return
    monitor = profile.monitor
    ours = config.failover.failing_rounds * config.checks.https.interval.total_seconds()
    theirs = None
    if monitor.tolerated_failures is not None and monitor.interval_s is not None:
        theirs = monitor.tolerated_failures * monitor.interval_s
    times = [t for t in (ours if policy_acts(config) else None, theirs) if t is not None]
    if not times or profile.ttl <= max(times):
        return
    limit = max(times)
    parts = []
    if policy_acts(config):
        parts.append(
            f"regionwatch: {config.failover.failing_rounds} failing rounds × "
            f"{config.checks.https.interval.total_seconds():g} s = {ours:g} s"
        )
    if theirs is not None:
        parts.append(
            f"Traffic Manager: {monitor.tolerated_failures} tolerated failures × "
            f"{monitor.interval_s} s = {theirs:g} s"
        )
    yield Finding(
        "dns_ttl_too_long",
        Severity.WARNING,
        profile.name,
        f"profile {profile.name}'s DNS TTL is {profile.ttl} s, longer than it takes to act on a "
        f"failure ({'; '.join(parts)}): resolvers keep sending users to a region taken out for "
        f"up to {profile.ttl} s more",
        f"lower the profile's TTL to at most {limit:g} s "
        "(az network traffic-manager profile update ... --ttl 60)",
    )


def _probes_healthz(profile: ProfileState) -> bool:
    path = urlsplit(profile.monitor.path or "/").path.rstrip("/")
    return path == _HEALTHZ


def _names_region(headers: tuple[tuple[str, str], ...]) -> bool:
    return any(name.lower() == REGION_HEADER.lower() and value for name, value in headers)


def healthz_without_region(facts: Facts) -> Iterator[Finding]:
    """Traffic Manager probes /healthz and nothing tells it which region an endpoint is: it then
    answers about the service itself, 200, whatever the region's state."""
    profile, config = facts.profile, facts.config
    if profile is None or not _probes_healthz(profile) or config.api.local_region is not None:
        return
    query = parse_qs(urlsplit(profile.monitor.path or "/").query)
    if query.get("region"):
        return
    for endpoint in profile.endpoints:
        # An endpoint's own custom headers replace the profile's, as Traffic Manager sends them.
        headers = endpoint.custom_headers or profile.monitor.custom_headers
        if _names_region(headers):
            continue
        region = governed_endpoints(config, profile).get(endpoint.name.lower(), endpoint.name)
        yield Finding(
            "healthz_without_region",
            Severity.WARNING,
            endpoint.name,
            f"Traffic Manager probes {_HEALTHZ} on endpoint {endpoint.name} without naming its "
            f"region (no {REGION_HEADER} custom header, no ?region=, no api.local_region): "
            f"{_HEALTHZ} then answers about the service itself, 200 whatever the region's state",
            f"add the custom header {REGION_HEADER}: {region} to endpoint {endpoint.name}, with "
            f"Host: {config.site.hostname} (an endpoint's headers replace the profile's)",
        )


def healthz_moves_nobody(facts: Facts) -> Iterator[Finding]:
    """Geographic routing and a /healthz probe: a 503 makes the endpoint Degraded, which keeps
    its traffic, so /healthz is context there and the disable is the lever."""
    profile, config = facts.profile, facts.config
    if profile is None or not _geographic(profile) or not _probes_healthz(profile):
        return
    lever = config.failover.mode == "enforce" and config.role == "decider"
    yield Finding(
        "healthz_moves_nobody",
        Severity.INFO if lever else Severity.WARNING,
        profile.name,
        f"Traffic Manager probes {_HEALTHZ} and profile {profile.name} routes by geography: a "
        "503 there makes the endpoint Degraded, and a Degraded endpoint keeps its traffic, so "
        f"{_HEALTHZ} moves no user"
        + ("" if lever else f", and failover.mode is {config.failover.mode}: nothing does"),
        "nothing to change: regionwatch's endpoint disable (enforce mode) is the lever, and "
        f"{_HEALTHZ} is context"
        if lever
        else "set failover.mode: enforce once /api/v1/actions shows the decisions you want "
        "(on the decider); until then a failing region keeps its users",
    )


def probe_skips_certificates(facts: Facts) -> Iterator[Finding]:
    """Traffic Manager's HTTPS probe never validates certificates: an expired or wrong-name
    certificate keeps the endpoint Online, and only regionwatch's probes see it."""
    profile = facts.profile
    if profile is None or (profile.monitor.protocol or "").upper() != "HTTPS":
        return
    yield Finding(
        "probe_skips_certificates",
        Severity.INFO,
        profile.name,
        f"profile {profile.name}'s HTTPS probe never validates certificates: an expired, "
        "untrusted or wrong-name certificate keeps an endpoint Online in Traffic Manager",
        "nothing to change: regionwatch validates the certificate on every HTTPS request (a "
        "rejected one counts toward failover unless the request says on_failure: alert) and "
        "warns checks.https.certificate.min_days_left days before it expires; they are the only "
        "certificate checks",
    )
