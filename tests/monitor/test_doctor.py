"""`regionwatch doctor`'s checks against the real parts: the Traffic Manager emulator read
through the Azure SDK, the lab's origins probed over HTTPS, and a real store on disk. Each trap
is set up and found with its code; the lab's profile and requests find no problem."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lab.origin import RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator
from lab.trafficmanager.seed import lab_profile_body
from monitor.clock import SystemClock
from monitor.config import load_config
from monitor.deploys import Deploy, DeploySource
from monitor.doctor import Facts, Finding, diagnose, gather, is_problem
from monitor.events import Severity
from monitor.store import Store
from monitor.trafficmanager.model import parse_profile
from monitor.warnings import Known, compute_warnings

ConfigWriter = Callable[..., Path]
Doctor = Callable[..., Awaitable[list[Finding]]]


def reseed(
    tm: TrafficManagerEmulator,
    origins: Mapping[str, RegionalOrigin],
    *,
    endpoints: Mapping[str, Mapping[str, Any]] | None = None,
    monitor: Mapping[str, Any] | None = None,
    **body: Any,
) -> None:
    """The lab's profile with the origins as targets, changed: `body` as `lab_profile_body`
    takes it, `endpoints` merged into named endpoints' properties, `monitor` into its
    monitorConfig."""
    profile = lab_profile_body(targets={n: o.address for n, o in origins.items()}, **body)
    props = profile["properties"]
    props["monitorConfig"] |= monitor or {}
    for endpoint in props["endpoints"]:
        endpoint["properties"] |= (endpoints or {}).get(endpoint["name"], {})
    tm.put_profile("blog", profile)


@pytest.fixture
def doctor(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> Doctor:
    """The doctor's findings for the test's origins and the emulator's profile, signed in as
    the emulator's contributor unless `identity` names another; keyword arguments are
    configuration sections."""

    async def run(identity: Any = None, **sections: Any) -> list[Finding]:
        for key, value in seeded.environment(identity).items():
            monkeypatch.setenv(key, value)
        sections.setdefault("traffic_manager", seeded.config_section())
        config = load_config(write_config(two_regions, **sections))
        return diagnose(await gather(config))

    return run


def codes(findings: Sequence[Finding]) -> list[tuple[str, str, Severity]]:
    return [(f.code, f.subject, f.severity) for f in findings]


def found(findings: Sequence[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


async def test_the_lab_profile_and_requests_find_no_problem_only_notices(doctor: Doctor) -> None:
    """The model deployment as the lab runs it (Geographic, WORLD on centralus, a request that
    bypasses the cache, a TTL shorter than the time to act) finds notices and no problem."""
    findings = await doctor(failover={"mode": "enforce"})
    assert not [f for f in findings if is_problem(f)], codes(findings)
    assert codes(findings) == [
        ("only_world_holder", "centralus", Severity.INFO),
        ("cached_probe_path", "home-cached", Severity.INFO),
        ("probe_skips_certificates", "blog", Severity.INFO),
        ("no_deploy_marker", "deploys", Severity.INFO),
    ]
    for finding in findings:
        assert "\n" not in finding.message + finding.fix and finding.fix


async def test_a_geographic_profile_without_world_is_critical(
    doctor: Doctor, seeded: TrafficManagerEmulator, two_regions: dict[str, RegionalOrigin]
) -> None:
    """No endpoint maps WORLD: users outside every mapping get no answer; said as critical."""
    reseed(seeded, two_regions, geo_mapping={"westeurope": ["GEO-EU"], "centralus": ["GEO-NA"]})
    [finding] = found(await doctor(), "no_world_fallback")
    assert (finding.severity, finding.subject) == (Severity.CRITICAL, "blog")
    assert "no endpoint maps WORLD" in finding.message and "map WORLD" in finding.fix


async def test_world_mapped_only_by_a_disabled_endpoint_is_no_fallback(
    doctor: Doctor, seeded: TrafficManagerEmulator
) -> None:
    """WORLD's holder is Disabled: the fallback is gone, and the finding names the endpoint."""
    seeded.set_endpoint_status("centralus", "Disabled")
    findings = await doctor()
    [finding] = found(findings, "no_world_fallback")
    assert "Disabled endpoint(s) centralus" in finding.message
    assert not found(findings, "only_world_holder")


async def test_the_only_world_holder_is_named_and_not_when_failover_is_off(
    doctor: Doctor,
) -> None:
    """centralus alone maps WORLD: the policy can never take it out; with failover off the
    policy never acts, so nothing is said."""
    [finding] = found(await doctor(), "only_world_holder")
    assert finding.subject == "centralus" and "never failed over" in finding.message
    assert not found(await doctor(failover={"mode": "off"}), "only_world_holder")


async def test_an_always_serve_endpoint_is_a_warning_outside_enforce_and_a_notice_in_it(
    doctor: Doctor, seeded: TrafficManagerEmulator, two_regions: dict[str, RegionalOrigin]
) -> None:
    """Always Serve: regionwatch's disable is the only lever, so in dry-run nothing takes the
    region out (a warning); in enforce mode it is said as a notice."""
    reseed(seeded, two_regions, endpoints={"westeurope": {"alwaysServe": "Enabled"}})
    [dry] = found(await doctor(), "always_serve_endpoint")
    assert (dry.subject, dry.severity) == ("westeurope", Severity.WARNING)
    assert "failover.mode: enforce" in dry.fix
    [enforce] = found(await doctor(failover={"mode": "enforce"}), "always_serve_endpoint")
    assert enforce.severity is Severity.INFO


async def test_requests_that_never_bypass_the_cache_are_found_live_and_in_the_policy(
    doctor: Doctor,
) -> None:
    """Without a bypassing request, the cached page's live HIT is a warning, and so is a policy
    whose requests all read the cache."""
    requests = [{"name": "home", "path": "/", "expect": {"body_contains": "<title>"}}]
    findings = await doctor(
        checks={"https": {"interval": "1s", "timeout": "1s", "requests": requests}}
    )
    [policy] = found(findings, "policy_never_bypasses_cache")
    assert policy.severity is Severity.WARNING and "bypass_cache: header" in policy.fix
    [cached] = found(findings, "cached_probe_path")
    assert (cached.subject, cached.severity) == ("home", Severity.WARNING)
    assert "X-Cache-Status: HIT in" in cached.message
    assert "westeurope" in cached.message and "centralus" in cached.message


async def test_a_request_that_bypasses_by_query_is_not_a_cache_hit(doctor: Doctor) -> None:
    """A request with a unique query misses the cache: nothing about the cache is said."""
    requests = [{"name": "home", "path": "/", "bypass_cache": "query"}]
    findings = await doctor(
        checks={"https": {"interval": "1s", "timeout": "1s", "requests": requests}}
    )
    assert not found(findings, "cached_probe_path")
    assert not found(findings, "policy_never_bypasses_cache")


async def test_a_ttl_longer_than_both_times_to_act_is_a_warning(
    doctor: Doctor, seeded: TrafficManagerEmulator, two_regions: dict[str, RegionalOrigin]
) -> None:
    """TTL 300 s against 3 × 1 s (regionwatch) and 3 × 30 s (Traffic Manager): too long; the
    fix names the longest TTL that fits."""
    reseed(seeded, two_regions, ttl=300)
    [finding] = found(await doctor(), "dns_ttl_too_long")
    assert finding.severity is Severity.WARNING
    assert "3 failing rounds × 1 s = 3 s" in finding.message
    assert "3 tolerated failures × 30 s = 90 s" in finding.message
    assert "at most 90 s" in finding.fix
    reseed(seeded, two_regions, ttl=90)
    assert not found(await doctor(), "dns_ttl_too_long")


async def test_healthz_probed_without_the_region_header_is_found_for_each_endpoint(
    doctor: Doctor, seeded: TrafficManagerEmulator, two_regions: dict[str, RegionalOrigin]
) -> None:
    """/healthz without X-Regionwatch-Region answers about the service, never a region: one
    finding per endpoint, and under Geographic routing a warning that a 503 moves nobody."""
    reseed(seeded, two_regions, monitor_path="/healthz")
    findings = await doctor()
    assert [f.subject for f in found(findings, "healthz_without_region")] == [
        "westeurope",
        "centralus",
    ]
    [moves] = found(findings, "healthz_moves_nobody")
    assert moves.severity is Severity.WARNING and "keeps its traffic" in moves.message


async def test_healthz_with_the_region_header_on_each_endpoint_is_fine(
    doctor: Doctor, seeded: TrafficManagerEmulator, two_regions: dict[str, RegionalOrigin]
) -> None:
    """The documented setup (endpoint headers naming the region, enforce mode): no
    healthz_without_region, and the Geographic notice is only a notice."""
    headers = {
        name: {
            "customHeaders": [
                {"name": "X-Regionwatch-Region", "value": name},
                {"name": "Host", "value": "blog.example.com"},
            ]
        }
        for name in two_regions
    }
    reseed(seeded, two_regions, monitor_path="/healthz", endpoints=headers)
    findings = await doctor(failover={"mode": "enforce"})
    assert not found(findings, "healthz_without_region")
    [moves] = found(findings, "healthz_moves_nobody")
    assert moves.severity is Severity.INFO


async def test_healthz_with_a_local_region_names_it(
    doctor: Doctor, seeded: TrafficManagerEmulator, two_regions: dict[str, RegionalOrigin]
) -> None:
    """api.local_region answers /healthz for its region without a header."""
    reseed(seeded, two_regions, monitor_path="/healthz")
    findings = await doctor(api={"listen": "127.0.0.1:0", "local_region": "westeurope"})
    assert not found(findings, "healthz_without_region")


async def test_an_http_probe_raises_no_certificate_notice(
    doctor: Doctor, seeded: TrafficManagerEmulator, two_regions: dict[str, RegionalOrigin]
) -> None:
    """Traffic Manager's HTTPS probe never validates certificates: a notice; an HTTP probe has
    no certificate to skip."""
    [notice] = found(await doctor(), "probe_skips_certificates")
    assert notice.severity is Severity.INFO and "only" in notice.fix
    reseed(seeded, two_regions, monitor={"protocol": "HTTP", "port": 80})
    assert not found(await doctor(), "probe_skips_certificates")


async def test_enforce_mode_with_a_reader_identity_is_critical(
    doctor: Doctor, seeded: TrafficManagerEmulator
) -> None:
    """The permissions check (check_access) says the reader may not write: every disable would
    fail; in dry-run the check is not asked for."""
    findings = await doctor(seeded.reader, failover={"mode": "enforce"})
    [finding] = found(findings, "enforce_cannot_write")
    assert finding.severity is Severity.CRITICAL and "Contributor" in finding.fix
    assert not found(await doctor(seeded.reader), "enforce_cannot_write")
    assert not found(await doctor(failover={"mode": "enforce"}), "enforce_cannot_write")


async def test_a_failed_permissions_check_is_unknown_not_cannot_write(
    doctor: Doctor, seeded: TrafficManagerEmulator
) -> None:
    """The permissions listing refused: whether the identity may write is unknown, a warning."""
    seeded.faults.add(method="GET", path_contains="permissions", status=403, count=None)
    findings = await doctor(failover={"mode": "enforce"})
    assert not found(findings, "enforce_cannot_write")
    [finding] = found(findings, "write_access_unknown")
    assert finding.severity is Severity.WARNING


@pytest.mark.parametrize(("key", "value"), [("api", "local_region"), ("vantage", None)])
async def test_a_decider_in_a_region_it_governs_is_found(
    doctor: Doctor, key: str, value: str | None
) -> None:
    """api.local_region or vantage naming a governed region: the decider dies with it."""
    section: Any = (
        {"listen": "127.0.0.1:0", "local_region": "westeurope"} if value else "westeurope"
    )
    [finding] = found(await doctor(**{key: section}), "decider_in_governed_region")
    assert finding.subject == ("api.local_region" if value else "vantage")
    assert "westeurope" in finding.message and "observers" in finding.fix


async def test_an_observer_in_its_region_is_not_a_decider_in_it(doctor: Doctor) -> None:
    """Observers run in the regions by design: nothing is said."""
    findings = await doctor(
        vantage="westeurope", role="observer", api={"listen": "127.0.0.1:0", "read_token": "r"}
    )
    assert not found(findings, "decider_in_governed_region")


async def test_the_deploy_marker_is_read_from_the_store_without_writing_it(
    doctor: Doctor, tmp_path: Path
) -> None:
    """No store yet: said so; a store without a marker: no_deploy_marker; with one: nothing.
    The store is read, never written (its file is unchanged)."""
    [missing] = found(await doctor(), "no_deploy_marker")
    assert "does not exist yet" in missing.message
    path = tmp_path / "regionwatch.db"
    store = Store(str(path), clock=SystemClock(), retention=timedelta(days=1))
    await store.open()
    try:
        [empty] = found(await doctor(), "no_deploy_marker")
        assert (
            "no deploy marker was ever posted" in empty.message
            and "does not exist" not in empty.message
        )
        marker = Deploy("d1", "westeurope", "2.0.0", datetime.now(UTC), DeploySource.MARKER)
        await store.record_deploy(marker)
    finally:
        await store.close()
    before = path.read_bytes()
    assert not found(await doctor(), "no_deploy_marker")
    assert path.read_bytes() == before


async def test_a_store_that_cannot_be_read_is_a_warning(doctor: Doctor, tmp_path: Path) -> None:
    """A file at storage.path that is not a store: said, with what to do."""
    (tmp_path / "regionwatch.db").write_bytes(b"not a database" * 100)
    [finding] = found(await doctor(), "store_unreadable")
    assert finding.severity is Severity.WARNING and "storage.path" in finding.fix


async def test_an_unreadable_profile_is_critical_and_its_traps_are_not_guessed(
    doctor: Doctor, seeded: TrafficManagerEmulator
) -> None:
    """A profile that is not there: one critical finding, and no profile trap made up."""
    findings = await doctor(traffic_manager=seeded.config_section(profile="nosuch"))
    [finding] = found(findings, "traffic_manager_unreadable")
    assert finding.severity is Severity.CRITICAL and "Reader" in finding.fix
    assert not found(findings, "only_world_holder")
    assert seeded.client_secret not in str(findings)


def test_under_priority_routing_the_geographic_traps_do_not_apply(tmp_path: Path) -> None:
    """A Priority profile probing /healthz: no WORLD traps and no "a 503 moves nobody" (there
    a Degraded endpoint loses its traffic), but the missing region header still matters."""
    body = lab_profile_body(routing_method="Priority", monitor_path="/healthz")
    profile = parse_profile({"name": "blog", **body})
    path = tmp_path / "regionwatch.yaml"
    path.write_text(
        "site: {hostname: blog.example.com}\n"
        "regions: {westeurope: {address: 127.0.0.2}, centralus: {address: 127.0.0.3}}\n"
    )
    findings = diagnose(Facts(load_config(path), profile=profile))
    assert [f.subject for f in found(findings, "healthz_without_region")] == [
        "westeurope",
        "centralus",
    ]
    geographic = {"no_world_fallback", "only_world_holder", "healthz_moves_nobody"}
    assert not [f for f in findings if f.code in geographic]


def test_the_traps_the_service_also_reports_are_its_warnings_in_its_words(
    tmp_path: Path,
) -> None:
    """only_world_holder, always_serve_endpoint and decider_in_governed_region found by the
    doctor say what the service's warnings say (message, fix, subject); only the WORLD
    holder's severity differs, a notice before going live."""
    body = lab_profile_body()
    body["properties"]["endpoints"][0]["properties"]["alwaysServe"] = "Enabled"
    profile = parse_profile({"name": "blog", **body})
    path = tmp_path / "regionwatch.yaml"
    path.write_text(
        "site: {hostname: blog.example.com}\n"
        "regions: {westeurope: {address: 127.0.0.2}, centralus: {address: 127.0.0.3}}\n"
        "vantage: westeurope\n"
    )
    config = load_config(path)
    service = compute_warnings(config, Known(profile=profile))
    shared = {"only_world_holder", "always_serve_endpoint", "decider_in_governed_region"}
    assert {w.code for w in service} == shared
    findings = [f for f in diagnose(Facts(config, profile=profile)) if f.code in shared]
    said = {(f.code, f.subject): (f.message, f.fix) for f in findings}
    assert said == {(w.code, w.subject): (w.message, w.fix) for w in service}
    severities = {f.code: f.severity for f in findings}
    assert severities["only_world_holder"] is Severity.INFO
    assert severities["always_serve_endpoint"] is Severity.WARNING  # dry-run, as the service
