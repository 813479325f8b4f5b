"""The failover policy inside the engine, stepped round by round on the manual clock, against
the lab's origins and the Traffic Manager emulator (the real SDK), in enforce and dry-run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lab.origin import Fault, RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.deploys import Deploy, DeploySource
from monitor.evidence import DeployMarked
from monitor.policy import Stance
from monitor.service import Service, build_service
from monitor.snapshot import Snapshot

ConfigWriter = Callable[..., Path]
START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
INTERVAL = 10


def identity(tm: TrafficManagerEmulator) -> dict[str, str]:
    return {
        "AZURE_TENANT_ID": tm.tenant_id,
        "AZURE_CLIENT_ID": tm.contributor.client_id,
        "AZURE_CLIENT_SECRET": tm.contributor.secret,
        "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
    }


def tm_section(tm: TrafficManagerEmulator) -> dict[str, Any]:
    return {
        "interval": "30s",
        "subscription_id": tm.subscription_id,
        "resource_group": tm.resource_group,
        "profile": "blog",
        "resource_manager_url": tm.base_url,
        "authority_host": tm.base_url,
        "ca_file": str(tm.ca_file),
    }


class Lab:
    """A service stepped by hand: rounds of every region, then Traffic Manager read."""

    def __init__(self, service: Service, clock: ManualClock, tm: TrafficManagerEmulator) -> None:
        self.service = service
        self.clock = clock
        self.tm = tm

    async def round(self) -> Snapshot:
        """One round of every region and a Traffic Manager read, then the actions decided
        carried out; the clock moves on by an interval."""
        service = self.service
        await asyncio.gather(*(service.run_round(r) for r in service.rounds.regions))
        await service.engine.settle()
        await service.read_traffic_manager()
        await self.settle()
        self.clock.advance(INTERVAL)
        return service.snapshot

    async def settle(self) -> Snapshot:
        service = self.service
        for _ in range(3):  # actions make evidence, which may make actions
            await service.engine.settle()
            if service.actuator is not None:
                await service.actuator.settle()
        return await service.engine.settle()

    def status(self, endpoint: str) -> str:
        state = self.tm.profile().endpoint(endpoint)  # type: ignore[union-attr]
        assert state is not None
        return str(state.status.value)

    async def deploy(self, region: str, version: str) -> None:
        deploy = Deploy(
            f"d-{region}-{version}", region, version, self.clock.now(), DeploySource.MARKER
        )
        await self.service.store.record_deploy(deploy)
        self.service.engine.submit(DeployMarked(deploy))
        await self.settle()


@pytest.fixture
def seeded(
    tm: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    monkeypatch: pytest.MonkeyPatch,
) -> TrafficManagerEmulator:
    tm.seed_lab_profile(targets={name: o.address for name, o in two_regions.items()})
    for name in two_regions:
        tm.force_monitor_status(name, "Online")
    for key, value in identity(tm).items():
        monkeypatch.setenv(key, value)
    return tm


@asynccontextmanager
async def stepped(
    tm: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    **failover: Any,
) -> AsyncIterator[Lab]:
    from lab.sandbox import MODEL_REQUESTS

    config = load_config(
        write_config(
            two_regions,
            checks={
                "https": {"interval": f"{INTERVAL}s", "timeout": "2s", "requests": MODEL_REQUESTS}
            },
            traffic_manager=tm_section(tm),
            failover={"mode": "enforce", "cooldown": "1m", **failover},
        )
    )
    clock = ManualClock(START)
    async with build_service(config, clock=clock) as service:
        lab = Lab(service, clock, tm)
        await lab.round()  # everyone healthy: where it starts
        yield lab


async def test_a_bad_deploy_is_disabled_after_failing_rounds_and_put_back_after_the_fix(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope deployed and broken (5xx): disabled at the third failing round, with the
    deploy and the cause in the reason; /healthz 503 for it; fixed, it is enabled again after
    five healthy rounds, once."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await lab.deploy("westeurope", "2.0.0")
        two_regions["westeurope"].inject(Fault.ERROR, status=500)
        stances = []
        for _ in range(3):
            snapshot = await lab.round()
            assert snapshot.policy is not None
            stances.append(snapshot.policy.region("westeurope").stance)
        assert lab.status("westeurope") == "Disabled"
        assert stances[:2] == [Stance.COUNTING, Stance.COUNTING]
        held = lab.service.snapshot.policy.region("westeurope")  # type: ignore[union-attr]
        assert held.stance is Stance.OUT
        assert lab.service.snapshot.health_for("westeurope").status_code == 503
        actions = await lab.service.store.actions(region="westeurope")
        assert [(a.action, a.status) for a in actions] == [("disable", "done")]
        assert "within" in actions[0].reason and "2.0.0" in actions[0].reason
        assert "status 500" in actions[0].reason
        assert "centralus is healthy and covers WORLD" in actions[0].reason
        two_regions["westeurope"].heal()
        for _ in range(4):
            await lab.round()
            assert lab.status("westeurope") == "Disabled"
        await lab.round()
        assert lab.status("westeurope") == "Enabled"
        assert lab.service.snapshot.health_for("westeurope").status_code == 200
        for _ in range(3):
            await lab.round()
        actions = await lab.service.store.actions(region="westeurope")
        assert [(a.action, a.status) for a in reversed(actions)] == [
            ("disable", "done"),
            ("enable", "done"),
        ]
