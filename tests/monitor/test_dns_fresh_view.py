"""DNS answers judged against Traffic Manager's freshest view: an endpoint disabled just before
a DNS round is a failover, in the running service and in `regionwatch check`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lab.certs import LabCA
from lab.origin import RegionalOrigin, loopback_address
from lab.resolvers import LabResolver
from lab.sandbox import MODEL_REQUESTS
from lab.trafficmanager import TrafficManagerEmulator
from monitor.config import load_config
from monitor.events import EventType
from monitor.eventstore import EventQuery
from monitor.service import build_service

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
            "https": {"interval": "1s", "timeout": "1s", "requests": MODEL_REQUESTS},
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


def identity(tm: TrafficManagerEmulator) -> dict[str, str]:
    return {
        "AZURE_TENANT_ID": tm.tenant_id,
        "AZURE_CLIENT_ID": tm.contributor.client_id,
        "AZURE_CLIENT_SECRET": tm.contributor.secret,
        "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
    }


async def test_the_service_calls_an_endpoint_disabled_before_the_round_a_failover(
    tm: TrafficManagerEmulator, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Traffic Manager read with westeurope Enabled, then westeurope disabled, then the DNS
    round: Europe's answers (centralus) are failovers, logged as such, never a mismatch; the
    view read again to judge them is the one the service keeps."""
    for key, value in identity(tm).items():
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
        env={**os.environ, **identity(tm)},
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
    for key, value in identity(tm).items():
        monkeypatch.setenv(key, value)
    eu.inject("wrong-answer", address=regions["centralus"].address)
    async with build_service(load_config(config_path)) as service:
        await service.read_traffic_manager()
        snapshot = await service.run_dns()
    assert snapshot.dns is not None
    plain = next(f for f in snapshot.dns.findings if f.answer.vantage is None)
    assert (plain.status, plain.reason) == ("mismatch", "sent to centralus, expected westeurope")
    assert len(tm.requests_log.where("GET", PROFILE_GET)) == 2
