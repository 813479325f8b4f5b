"""DNS answers judged against Traffic Manager's freshest view: an endpoint disabled just before
a DNS round is a failover, in the running service and in `regionwatch check`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lab.certs import LabCA
from lab.origin import RegionalOrigin, loopback_address
from lab.resolvers import LabResolver
from lab.sandbox import MODEL_REQUESTS
from lab.trafficmanager import StreamedBody, TrafficManagerEmulator
from monitor.config import load_config
from monitor.events import EventType
from monitor.eventstore import EventQuery
from monitor.report import check_passed
from monitor.service import build_service
from monitor.trafficmanager.azure import AzureTrafficManager, RetryPolicy
from regionwatch.cli import check_document

ConfigWriter = Callable[..., Path]
HOSTNAME = "blog.example.com"
EUROPE = "81.2.69.0/24"  # GB in the emulator's geography table
PROFILE_GET = "trafficmanagerprofiles/blog"
FAILOVER = ("failover", "centralus", "sent to centralus: westeurope is Disabled in Traffic Manager")


@pytest.fixture
async def regions(lab_ca: LabCA) -> AsyncIterator[dict[str, RegionalOrigin]]:
    """westeurope and centralus, healthy, each on a loopback address of its own, so that a
    DNS answer tells them apart."""
    west, central = loopback_address(0), loopback_address(1)
    if west == central:
        pytest.skip("this system binds only 127.0.0.1")
    async with (
        RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=lab_ca, address=west) as w,
        RegionalOrigin(region="centralus", hostname=HOSTNAME, ca=lab_ca, address=central) as c,
    ):
        yield {"westeurope": w, "centralus": c}


@pytest.fixture
async def eu(
    tm: TrafficManagerEmulator, regions: dict[str, RegionalOrigin]
) -> AsyncIterator[LabResolver]:
    """Europe's resolver, in front of the emulator holding the lab profile with the origins'
    addresses as targets."""
    tm.seed_lab_profile(targets={name: o.address for name, o in regions.items()})
    async with LabResolver("eu", subnet=EUROPE, upstream=("127.0.0.1", tm.dns_port)) as resolver:
        yield resolver


@pytest.fixture
def config_path(
    tm: TrafficManagerEmulator,
    eu: LabResolver,
    regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> Path:
    resolver = {"name": "eu", "address": eu.address, "port": eu.port}
    return write_config(
        regions,
        traffic_manager={
            "interval": "1h",  # the reads here are the ones the test makes
            "subscription_id": tm.subscription_id,
            "resource_group": tm.resource_group,
            "profile": "blog",
            "resource_manager_url": tm.base_url,
            "authority_host": tm.base_url,
            "ca_file": str(tm.ca_file),
        },
        checks={
            # A generous probe timeout: these tests judge DNS, and a loaded machine must not
            # turn a slow TLS handshake into a failing region (check would exit 1).
            "https": {"interval": "10s", "timeout": "10s", "requests": MODEL_REQUESTS},
            "dns": {
                "interval": "1h",
                "timeout": "2s",
                "resolvers": [{**resolver, "expect_region": "westeurope"}],
                "vantage_points": [
                    {"name": "europe", "client_subnet": EUROPE, "expect_region": "westeurope"}
                ],
            },
        },
    )


async def test_the_service_calls_an_endpoint_disabled_before_the_round_a_failover(
    tm: TrafficManagerEmulator, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Traffic Manager read with westeurope Enabled, then westeurope disabled, then the DNS
    round: Europe's answers (centralus) are failovers, logged as such, never a mismatch; the
    view read again to judge them is the one the service keeps."""
    for key, value in tm.environment().items():
        monkeypatch.setenv(key, value)
    async with build_service(load_config(config_path)) as service:
        tm_view = (await service.read_traffic_manager()).traffic_manager
        assert tm_view is not None and tm_view.profile is not None
        west = tm_view.profile.endpoint("westeurope")
        assert west is not None and west.enabled
        tm.set_endpoint_status("westeurope", "Disabled")
        snapshot = await service.run_dns()
        await service.engine.settle()
        stored = await service.store.events(EventQuery())
    assert snapshot.dns is not None
    judged = {f.answer.vantage: (f.status, f.region, f.reason) for f in snapshot.dns.findings}
    assert judged == {None: FAILOVER, "europe": FAILOVER}
    assert {s.event.type for s in stored} == {EventType.DNS_FAILOVER}
    assert snapshot.traffic_manager is not None and snapshot.traffic_manager.profile is not None
    west = snapshot.traffic_manager.profile.endpoint("westeurope")
    assert west is not None and not west.enabled
    assert len(tm.requests_log.where("GET", PROFILE_GET)) == 2


async def test_check_calls_an_endpoint_disabled_after_its_read_a_failover_and_exits_0(
    tm: TrafficManagerEmulator, config_path: Path
) -> None:
    """`check` reads Traffic Manager while westeurope is still Enabled (the emulator answers
    that read with the profile as it was), westeurope is disabled before the DNS round: the
    answers are failovers and check exits 0, not 1."""
    before = json.dumps(tm.state.profile_json(tm.profile()))
    tm.faults.add(
        method="GET",
        path_contains=PROFILE_GET,
        status=200,
        body=before,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    tm.set_endpoint_status("westeurope", "Disabled")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regionwatch",
        "check",
        "--config",
        str(config_path),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **tm.environment()},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    document: dict[str, Any] = json.loads(out)
    judged = {d["vantage"]: (d["status"], d["region"], d["reason"]) for d in document["dns"]}
    assert judged == {None: FAILOVER, "europe": FAILOVER}, err.decode()
    assert process.returncode == 0, err.decode()
    by_name = {r["name"]: r for r in document["regions"]}
    assert by_name["westeurope"]["traffic_manager"]["endpoint_status"] == "Disabled"
    assert [r.faulted for r in tm.requests_log.where("GET", PROFILE_GET)] == [True, False]


async def test_a_mismatch_the_fresh_view_does_not_explain_stays_a_mismatch(
    tm: TrafficManagerEmulator,
    eu: LabResolver,
    regions: dict[str, RegionalOrigin],
    config_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Europe's resolver sending users to centralus while westeurope is Enabled: Traffic
    Manager is read again, still explains nothing, and the answer is a mismatch."""
    for key, value in tm.environment().items():
        monkeypatch.setenv(key, value)
    eu.inject("wrong-answer", address=regions["centralus"].address)
    async with build_service(load_config(config_path)) as service:
        await service.read_traffic_manager()
        snapshot = await service.run_dns()
    assert snapshot.dns is not None
    plain = next(f for f in snapshot.dns.findings if f.answer.vantage is None)
    assert (plain.status, plain.reason) == ("mismatch", "sent to centralus, expected westeurope")
    assert len(tm.requests_log.where("GET", PROFILE_GET)) == 2


# When Traffic Manager cannot be read again, a mismatch cannot be told from a failover.

UNREADABLE = (
    "sent to centralus, expected westeurope; Traffic Manager could not be read again to tell "
    "a failover from a mismatch: "
)
PER_ATTEMPT, IN_ALL = 0.6, 1.0  # the client's deadlines, short (the defaults are 20 s and 30 s)
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, retry_after_cap=0.05)


async def test_the_service_calls_a_mismatch_it_cannot_read_again_to_judge_unknown(
    tm: TrafficManagerEmulator, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """westeurope disabled after the service's read, and every read after it answered 503:
    Europe's answers (centralus) are `unknown`, saying Traffic Manager could not be read again
    and why, never a mismatch; the failed read is the reading kept as latest."""
    for key, value in tm.environment().items():
        monkeypatch.setenv(key, value)
    config = load_config(config_path)
    assert config.traffic_manager is not None
    client = AzureTrafficManager(config.traffic_manager, retry=FAST)
    async with build_service(config, traffic_manager=client) as service:
        await service.read_traffic_manager()
        tm.set_endpoint_status("westeurope", "Disabled")
        tm.faults.add(method="GET", path_contains="trafficmanagerprofiles", status=503, count=None)
        snapshot = await service.run_dns()
    view = snapshot.traffic_manager
    assert view is not None and view.latest is not None and view.latest.error is not None
    assert view.latest.error.startswith("Azure answered 503 ServiceUnavailable")
    assert snapshot.dns is not None
    judged = {f.answer.vantage: (f.status, f.region, f.reason) for f in snapshot.dns.findings}
    unknown = ("unknown", "centralus", UNREADABLE + view.latest.error)
    assert judged == {None: unknown, "europe": unknown}


async def test_a_dns_round_waits_at_most_its_timeout_and_one_bounded_read(
    tm: TrafficManagerEmulator, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Traffic Manager stops answering after the service's read: the DNS round that needs to
    read it again ends within its own timeout plus the client's deadline, its answers
    `unknown` for want of that read, which is an error read keeping the last good profile.
    The next round, Traffic Manager's last read having failed, does not wait on another."""
    for key, value in tm.environment().items():
        monkeypatch.setenv(key, value)
    config = load_config(config_path)
    assert config.traffic_manager is not None and config.checks.dns is not None
    client = AzureTrafficManager(
        config.traffic_manager, retry=FAST, attempt_deadline=PER_ATTEMPT, call_deadline=IN_ALL
    )
    dns_timeout = config.checks.dns.timeout.total_seconds()
    late = "Traffic Manager did not answer within 1 s"
    async with build_service(config, traffic_manager=client) as service:
        first_read = (await service.read_traffic_manager()).traffic_manager
        assert first_read is not None
        good = first_read.profile
        tm.set_endpoint_status("westeurope", "Disabled")
        hang = tm.faults.add(
            method="GET", path_contains=PROFILE_GET, status=None, delay=600, count=None
        )
        rounds = []
        for _ in range(2):
            started = time.monotonic()
            async with asyncio.timeout(30):  # before the deadlines: about 65 s
                snapshot = await service.run_dns()
            assert snapshot.dns is not None
            rounds.append((time.monotonic() - started, hang.hits, snapshot.dns.findings))
        view = service.snapshot.traffic_manager
    (first, first_hits, first_findings), (second, second_hits, second_findings) = rounds
    assert first < dns_timeout + IN_ALL + 2.0  # 2 s: a busy machine
    for findings in (first_findings, second_findings):
        assert {(f.status, f.reason) for f in findings} == {("unknown", UNREADABLE + late)}
    assert view is not None and view.latest is not None and view.latest.error == late
    assert view.profile == good
    assert first_hits >= 1 and second_hits == first_hits  # no read again in the outage
    assert second < dns_timeout + 1.0


async def test_check_calls_a_mismatch_it_cannot_read_again_to_judge_unknown_and_exits_0(
    tm: TrafficManagerEmulator, config_path: Path
) -> None:
    """`check` reads Traffic Manager with westeurope Enabled, westeurope is disabled, and the
    read again before judging DNS is refused: the answers are `unknown` (not a mismatch, so
    check exits 0 on that account), and the read's error is in the document's
    `traffic_manager`."""
    before = json.dumps(tm.state.profile_json(tm.profile()))
    tm.faults.add(
        method="GET",
        path_contains=PROFILE_GET,
        status=200,
        body=before,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    tm.faults.add(method="GET", path_contains=PROFILE_GET, status=403, count=None)
    tm.set_endpoint_status("westeurope", "Disabled")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regionwatch",
        "check",
        "--config",
        str(config_path),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **tm.environment()},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    document: dict[str, Any] = json.loads(out)
    error = document["traffic_manager"]["error"]
    assert error.startswith("Azure answered 403 AuthorizationFailed"), err.decode()
    judged = {d["vantage"]: (d["status"], d["region"], d["reason"]) for d in document["dns"]}
    unknown = ("unknown", "centralus", UNREADABLE + error)
    assert judged == {None: unknown, "europe": unknown}, err.decode()
    assert process.returncode == 0, err.decode()


async def test_check_with_traffic_manager_not_answering_ends_by_one_deadline_with_the_error(
    tm: TrafficManagerEmulator, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Traffic Manager's profile dripping in a byte at a time, and westeurope disabled: `check`
    ends within the client's deadline once (its failed read is not made again to judge the
    DNS answers, which are `unknown` for want of it), with the error under `traffic_manager`
    and every region's verdict."""
    for key, value in tm.environment().items():
        monkeypatch.setenv(key, value)
    config = load_config(config_path)
    assert config.traffic_manager is not None and config.checks.dns is not None
    client = AzureTrafficManager(
        config.traffic_manager, retry=FAST, attempt_deadline=PER_ATTEMPT, call_deadline=IN_ALL
    )
    drips = [StreamedBody(head=b"{", chunk=b" ", pause=0.05) for _ in range(2 * FAST.attempts)]
    for drip in drips:
        tm.faults.add(method="GET", path_contains=PROFILE_GET, status=200, body=drip)
    tm.set_endpoint_status("westeurope", "Disabled")
    started = time.monotonic()
    async with (
        asyncio.timeout(30),  # before the deadlines: never
        build_service(config, traffic_manager=client, once=True) as service,
    ):
        snapshot = await service.run_once()
    took = time.monotonic() - started
    document = check_document(snapshot)
    late = "Traffic Manager did not answer within 1 s"
    assert document["traffic_manager"]["error"] == late
    assert {(d["status"], d["reason"]) for d in document["dns"]} == {("unknown", UNREADABLE + late)}
    assert {r["name"] for r in document["regions"]} == {"westeurope", "centralus"}
    assert check_passed(snapshot)
    assert len([drip for drip in drips if drip.sent]) == 2  # the two attempts of one read
    assert took < IN_ALL + config.checks.dns.timeout.total_seconds() + 2.0  # 2 s: a busy machine
