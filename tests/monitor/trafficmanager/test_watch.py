"""Traffic Manager's view beside ours, in the running service and in `check --json`."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import markupsafe
import pytest
import structlog
from servers import eventually, serving_service

from lab.origin import Fault, RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator
from monitor.config import load_config
from monitor.events import EventType
from monitor.eventstore import EventQuery
from monitor.service import Service, build_service
from monitor.snapshot import TrafficManagerView

ConfigWriter = Callable[..., Path]
SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "contract" / "check.schema.json"


@pytest.fixture
async def api(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    for key, value in seeded.environment().items():
        monkeypatch.setenv(key, value)
    config = load_config(write_config(two_regions, traffic_manager=seeded.config_section()))
    async with (
        serving_service(config) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        await eventually(lambda: _traffic_manager(service).latest is not None)
        # The write-access check is a job of its own, started with the first read but not
        # waited for by readiness in dry-run: wait for it too, not for luck.
        await eventually(lambda: _traffic_manager(service).access is not None)
        await eventually(lambda: service.snapshot.ready)
        yield service, client


def _traffic_manager(service: Service) -> TrafficManagerView:
    view = service.snapshot.traffic_manager
    assert view is not None
    return view


async def _events(client: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/events", params={"type": kind})
    assert answer.status_code == 200
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


async def regions(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in (await client.get("/api/v1/regions")).json()["regions"]}


async def test_each_region_shows_its_endpoint_as_traffic_manager_sees_it(
    api: tuple[Service, httpx.AsyncClient],
) -> None:
    """Endpoint status and monitor status beside our verdict; no findings when all agree."""
    _, client = api
    west = (await regions(client))["westeurope"]
    assert west["status"] == "healthy"
    assert west["traffic_manager"]["endpoint"] == "westeurope"
    assert west["traffic_manager"]["endpoint_status"] == "Enabled"
    assert west["traffic_manager"]["monitor_status"] == "Online"
    assert west["traffic_manager"]["geo_mapping"] == ["GEO-EU"]
    assert west["findings"] == []
    view = (await client.get("/api/v1/traffic-manager")).json()
    assert view["profile"]["routing_method"] == "Geographic"
    assert {e["name"] for e in view["profile"]["endpoints"]} == {"westeurope", "centralus"}
    assert view["write_access"]["can_write"] is True


async def test_failing_region_that_traffic_manager_calls_online_is_called_out(
    api: tuple[Service, httpx.AsyncClient],
    two_regions: dict[str, RegionalOrigin],
    seeded: TrafficManagerEmulator,
) -> None:
    """Our probes say failing while Traffic Manager says Online, the case this service exists
    for: a finding on the region and a `traffic_manager.disagrees` event at once; when Traffic
    Manager comes round to Degraded, the event that closes it."""
    _, client = api
    two_regions["westeurope"].inject(Fault.ORIGIN_DOWN)

    async def called_out() -> bool:
        return any(
            "Traffic Manager says Online" in f
            for f in (await regions(client))["westeurope"]["findings"]
        )

    await eventually(called_out)
    assert (await regions(client))["centralus"]["findings"] == []
    await eventually(lambda: _has_events(client, "traffic_manager.disagrees", 1))
    [opened] = await _events(client, "traffic_manager.disagrees")
    assert (opened["region"], opened["severity"], opened["resolved"]) == (
        "westeurope",
        "critical",
        False,
    )
    assert opened["problem"] == "traffic-manager/westeurope"
    assert opened["evidence"]["monitor_status"] == "Online"
    seeded.force_monitor_status("westeurope", "Degraded")  # Traffic Manager sees it too now
    await eventually(lambda: _has_events(client, "traffic_manager.disagrees", 2))
    closed, first = await _events(client, "traffic_manager.disagrees")
    assert first == opened
    assert (closed["resolved"], closed["since"]) == (True, opened["since"])


async def _has_events(client: httpx.AsyncClient, kind: str, count: int) -> bool:
    return len(await _events(client, kind)) >= count


async def test_degraded_in_traffic_manager_but_healthy_for_us_points_at_its_probe(
    api: tuple[Service, httpx.AsyncClient], seeded: TrafficManagerEmulator
) -> None:
    """TM Degraded while we see the region healthy: a hint about TM's probe configuration."""
    _, client = api
    seeded.force_monitor_status("centralus", "Degraded")

    async def hinted() -> bool:
        findings = (await regions(client))["centralus"]["findings"]
        return any("check its probe configuration" in f for f in findings)

    await eventually(hinted)


async def test_drift_between_configuration_and_profile_is_reported(
    tm: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A target that is not the configured address, and a configured endpoint the profile lacks."""
    tm.seed_lab_profile(
        targets={"westeurope": "127.0.0.99", "centralus": two_regions["centralus"].address}
    )
    for key, value in tm.environment().items():
        monkeypatch.setenv(key, value)
    regions_config = {
        name: {"address": o.address, "port": o.https_port, "http_port": o.http_port}
        for name, o in two_regions.items()
    }
    regions_config["centralus"]["endpoint"] = "northeurope"
    config = load_config(
        write_config(two_regions, traffic_manager=tm.config_section(), regions=regions_config)
    )
    async with build_service(config) as service:
        snapshot = await service.read_traffic_manager()
    views = {name: view.endpoint for name, view in snapshot.regions.items()}
    west = two_regions["westeurope"].address
    assert views["westeurope"] is not None and views["centralus"] is not None
    assert views["westeurope"].findings == (
        f"endpoint target 127.0.0.99 is not the configured address {west}",
    )
    assert views["centralus"].findings == ("endpoint 'northeurope' is not in profile 'blog'",)
    drift = {c.region: c for c in snapshot.conditions.values() if c.type is EventType.CONFIG_DRIFT}
    assert set(drift) == {"westeurope", "centralus"}


async def test_an_azure_outage_is_error_never_a_region_failure(
    api: tuple[Service, httpx.AsyncClient], seeded: TrafficManagerEmulator
) -> None:
    """With ARM answering 503, the read is recorded as an error and regions stay healthy."""
    service, client = api
    seeded.faults.add(path_contains="trafficmanagerprofiles/blog", status=503, count=None)

    async def read_failed() -> bool:
        return bool((await client.get("/api/v1/traffic-manager")).json()["error"])

    await eventually(read_failed, timeout=15)
    view = (await client.get("/api/v1/traffic-manager")).json()
    assert "Azure answered 503" in view["error"]
    assert {r["status"] for r in (await regions(client)).values()} == {"healthy"}
    # The last profile read is kept (with its age): one failed read does not erase it.
    assert view["profile"]["name"] == "blog"
    assert view["profile_read_at"] < view["read_at"]
    assert (await regions(client))["westeurope"]["traffic_manager"]["monitor_status"] == "Online"
    history = await service.store.traffic_manager_history("westeurope", limit=50)
    assert any(h["error"] for h in history)
    assert any(h["monitor_status"] == "Online" for h in history)


async def test_enforce_mode_without_write_access_is_not_ready(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In enforce mode a read-only identity keeps /readyz at 503, saying why."""
    for key, value in seeded.environment(seeded.reader).items():
        monkeypatch.setenv(key, value)
    path = write_config(
        two_regions, traffic_manager=seeded.config_section(), failover={"mode": "enforce"}
    )
    async with (
        serving_service(load_config(path)) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        await eventually(lambda: _traffic_manager(service).access is not None)
        await eventually(lambda: min(v.rounds_done for v in service.snapshot.regions.values()) >= 1)
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["problems"] == [
        "enforce mode, cannot write to Traffic Manager: missing permission "
        "Microsoft.Network/trafficManagerProfiles/externalEndpoints/write"
    ]


async def test_check_json_carries_traffic_managers_view(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """check --json attaches each region's endpoint state and stays valid against the schema;
    its warnings are those one round can tell: the lab profile maps WORLD to centralus alone."""
    path = write_config(two_regions, traffic_manager=seeded.config_section())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regionwatch",
        "check",
        "--config",
        str(path),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **seeded.environment()},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    document = json.loads(out)
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    by_name = {r["name"]: r for r in document["regions"]}
    assert by_name["westeurope"]["traffic_manager"]["monitor_status"] == "Online"
    assert by_name["centralus"]["traffic_manager"]["geo_mapping"] == ["WORLD"]
    assert [(w["code"], w["subject"]) for w in document["warnings"]] == [
        ("only_world_holder", "centralus")
    ]


async def test_a_disagreement_is_one_event_however_many_reads_see_it(
    api: tuple[Service, httpx.AsyncClient], seeded: TrafficManagerEmulator
) -> None:
    """Three reads with the same disagreement make one event; its end makes one more, with
    the same problem and start; and the log says each once."""
    service, _ = api
    await service.scheduler.shutdown()  # drive the reads by hand
    seeded.force_monitor_status("centralus", "Degraded")
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            await service.read_traffic_manager()
        seeded.force_monitor_status("centralus", "Online")
        await service.read_traffic_manager()
        await service.engine.settle()
    stored = await service.store.events(EventQuery(type=EventType.TRAFFIC_MANAGER_DISAGREES))
    assert [(s.event.region, s.event.resolved) for s in reversed(stored)] == [
        ("centralus", False),
        ("centralus", True),
    ]
    assert stored[0].event.since == stored[1].event.since
    logged = [
        e["level"] if "level" in e else e["log_level"]
        for e in logs
        if e["event"] == "event_recorded" and e["type"] == "traffic_manager.disagrees"
    ]
    assert logged == ["warning", "info"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("failure", "cause"),
    [
        ("bad-secret", "AADSTS7000215: Invalid client secret provided."),
        ("wrong-tenant", "Unable to get authority configuration for https://127.0.0.1:"),
        ("authority-unreachable", "Failed to establish a new connection: [Errno 111] Connection"),
    ],
)
async def test_an_authentication_failure_shows_its_cause_and_since_when(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
    cause: str,
) -> None:
    """A bad secret, a wrong tenant, an authority nobody answers at: the reading's error, the
    API and the status page carry the cause on one line, never the secret, and the page says
    Traffic Manager could not be read and since when."""
    env = seeded.environment()
    section = seeded.config_section()
    if failure == "bad-secret":
        env["AZURE_CLIENT_SECRET"] = "not-the-secret-do-not-print"
    elif failure == "wrong-tenant":
        env["AZURE_TENANT_ID"] = "00000000-0000-0000-0000-000000000000"
    else:
        section["authority_host"] = f"https://127.0.0.1:{_closed_port()}"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = load_config(write_config(two_regions, traffic_manager=section))
    async with (
        serving_service(config) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        await eventually(lambda: _traffic_manager(service).latest is not None)
        view = (await client.get("/api/v1/traffic-manager")).json()
        page = (await client.get("/")).text
        reading = _traffic_manager(service).latest
    assert reading is not None and reading.error is not None
    assert reading.error.startswith("authentication failed: EnvironmentCredential: ")
    assert cause in reading.error
    assert "\n" not in reading.error
    assert view["error"] == reading.error
    assert view["failing_since"] is not None and view["failing_since"] <= view["read_at"]
    since = view["failing_since"][:19].replace("T", " ")
    assert f"Traffic Manager could not be read since {since} UTC: " in page
    assert str(markupsafe.escape(reading.error)) in page  # as the page's templates escape it
    for shown in (reading.error, json.dumps(view), page):
        assert env["AZURE_CLIENT_SECRET"] not in shown
        assert seeded.contributor.secret not in shown


async def test_the_status_page_says_nothing_of_traffic_manager_while_it_reads(
    api: tuple[Service, httpx.AsyncClient],
) -> None:
    """Reads that work put no outage on the page, and the API has no failing_since."""
    _, client = api
    assert (await client.get("/api/v1/traffic-manager")).json()["failing_since"] is None
    assert "could not be read" not in (await client.get("/")).text
