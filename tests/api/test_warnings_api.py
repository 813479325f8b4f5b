"""Warnings about regionwatch itself through the running service: `/readyz`'s `details`, the
log, and the write-permission check against the Traffic Manager emulator with the real SDK."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from servers import eventually, serving_service
from verdicts import START

from lab.origin import RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.service import Service

ConfigWriter = Callable[..., Path]
TOKEN = "w-token-0123456789"
PERMISSIONS = "providers/Microsoft.Authorization/permissions"


async def details(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """/readyz's warnings by code."""
    return {w["code"]: w for w in (await client.get("/readyz")).json()["details"]}


async def checked_again(service: Service) -> None:
    """The hourly permissions job, run now, and its result applied."""
    await service.check_access()
    await service.engine.settle()


async def test_an_identity_made_read_only_in_enforce_mode_shows_in_readyz_details(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Enforce mode, write access confirmed at start; the identity's role becomes Reader, and
    the next permissions check makes /readyz 503 with the critical `enforce_cannot_write`
    warning in its details, logged once as `warning_raised`."""
    for key, value in seeded.environment().items():
        monkeypatch.setenv(key, value)
    path = write_config(
        two_regions, traffic_manager=seeded.config_section(), failover={"mode": "enforce"}
    )
    with structlog.testing.capture_logs() as logs:
        async with (
            serving_service(load_config(path)) as (url, service),
            httpx.AsyncClient(base_url=url) as client,
        ):
            await eventually(lambda: service.snapshot.ready)
            assert "enforce_cannot_write" not in await details(client)
            seeded.assign_role(seeded.contributor)  # Reader's actions: read-only
            await checked_again(service)
            await checked_again(service)  # the same finding again: not logged again
            ready = await client.get("/readyz")
    assert ready.status_code == 503
    warning = {w["code"]: w for w in ready.json()["details"]}["enforce_cannot_write"]
    assert warning["severity"] == "critical"
    assert warning["message"].startswith(
        "enforce mode, cannot write to Traffic Manager: missing permission "
        "Microsoft.Network/trafficManagerProfiles/externalEndpoints/write; "
    )
    assert warning["message"] in ready.json()["warnings"]
    raised = [e for e in logs if e["event"] == "warning_raised"]
    assert [e["code"] for e in raised].count("enforce_cannot_write") == 1
    # The lab profile maps WORLD to centralus alone: that one is said too, from the first read.
    assert "only_world_holder" in [e["code"] for e in raised]


async def test_a_failed_permissions_check_is_recorded_and_not_taken_for_cannot_write(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After write access was confirmed, a permissions check that fails leaves the service
    ready: `write_access_unknown` in /readyz's details, `can_write` null with the last known
    answer in /api/v1/traffic-manager, a log line; the next check that answers clears it."""
    for key, value in seeded.environment().items():
        monkeypatch.setenv(key, value)
    path = write_config(
        two_regions, traffic_manager=seeded.config_section(), failover={"mode": "enforce"}
    )
    with structlog.testing.capture_logs() as logs:
        async with (
            serving_service(load_config(path)) as (url, service),
            httpx.AsyncClient(base_url=url) as client,
        ):
            await eventually(lambda: service.snapshot.ready)
            seeded.faults.add(method="GET", path_contains=PERMISSIONS, status=403, count=1)
            await checked_again(service)
            ready = await client.get("/readyz")
            access = (await client.get("/api/v1/traffic-manager")).json()["write_access"]
            await checked_again(service)
            after = await details(client)
    assert ready.status_code == 200
    unknown = {w["code"]: w for w in ready.json()["details"]}["write_access_unknown"]
    assert "the write-permission check failed at " in unknown["message"]
    assert "Azure answered 403 AuthorizationFailed" in unknown["message"]
    assert "stands (can write); it is tried again every hour" in unknown["message"]
    assert "enforce_cannot_write" not in {w["code"] for w in ready.json()["details"]}
    assert access["can_write"] is None
    assert access["last_known"]["can_write"] is True
    assert [e["event"] for e in logs].count("traffic_manager_access_check_failed") == 1
    assert "write_access_unknown" not in after
    cleared = [e for e in logs if e["event"] == "warning_cleared"]
    assert [e["code"] for e in cleared] == ["write_access_unknown"]


async def test_no_deploy_marker_is_said_until_one_is_posted_and_not_after_a_restart(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A new store: `no_deploy_marker` (info) in /readyz's details, not among the lines to
    alert on; a posted marker clears it at once, and a restart on the same store knows."""
    config = load_config(write_config(two_regions, api={"listen": "127.0.0.1:0", "token": TOKEN}))
    async with (
        serving_service(config, schedule=False, clock=ManualClock(START)) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        first = (await client.get("/readyz")).json()
        posted = await client.post(
            "/api/v1/deploys",
            json={"region": "westeurope", "version": "2.0.0"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert posted.status_code == 201, posted.text
        after_marker = await details(client)
    assert [w["code"] for w in first["details"]] == ["no_deploy_marker"]
    assert first["details"][0]["severity"] == "info"
    assert first["warnings"] == []
    assert after_marker == {}
    async with (
        serving_service(config, schedule=False, clock=ManualClock(START)) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        assert await details(client) == {}
