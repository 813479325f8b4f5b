"""Peers as the decider sees them, with real services on loopback: a real observer counted,
and every way a peer stops counting (a wrong token, a malformed or stale document, too slow);
with every observer gone, network failures no longer disable while content failures still
do; and an observer's `/healthz` repeating the decider's answer while the decider is there.
Rounds, pulls and reads are stepped by hand on one manual clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from alertreceiver import Answer, Receiver, receiving
from processes import free_port
from servers import serving_service
from verdicts import START

from api.listener import bind_listener
from lab.origin import Fault, RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator
from monitor.clock import ManualClock
from monitor.config import Config, load_config
from monitor.observations import parse
from monitor.service import Service

ConfigWriter = Callable[..., Path]
Origins = Mapping[str, RegionalOrigin]
INTERVAL = 1  # seconds: write_config's checks.https.interval
READ_TOKEN = "observer-read-token"
DECIDER_TOKEN = "decider-token"
WEST = "westeurope"


class Stepper:
    """Services stepped by hand on one manual clock: each round probes every region of every
    service, pulls every service's peers, reads Traffic Manager, and carries out what was
    decided; then the clock moves one interval on."""

    def __init__(self, clock: ManualClock, *services: Service) -> None:
        self.clock = clock
        self.services = list(services)

    async def round(self) -> None:
        for service in self.services:
            await asyncio.gather(*(service.run_round(r) for r in service.rounds.regions))
        for service in self.services:
            await service.pull_peers()
            if service.traffic_manager is not None:
                await service.read_traffic_manager()
            await settle(service)
        self.clock.advance(INTERVAL)

    async def rounds(self, count: int) -> None:
        for _ in range(count):
            await self.round()


async def settle(service: Service) -> None:
    for _ in range(3):  # actions make evidence, which may make actions
        await service.engine.settle()
        if service.actuator is not None:
            await service.actuator.settle()


def configure(
    write_config: ConfigWriter, origins: Origins, tmp_path: Path, name: str, **sections: Any
) -> Config:
    """A configuration of its own (its store named after `name`) for one of the services."""
    storage = {"path": str(tmp_path / f"{name}.db")}
    return load_config(write_config(origins, storage=storage, **sections))


def decider(
    write_config: ConfigWriter,
    origins: Origins,
    tmp_path: Path,
    peers: list[dict[str, Any]],
    **sections: Any,
) -> Config:
    return configure(
        write_config,
        origins,
        tmp_path,
        "vp1",
        vantage="vp1",
        peers=peers,
        api={"listen": "127.0.0.1:0", "token": DECIDER_TOKEN},
        **sections,
    )


def observer(
    write_config: ConfigWriter, origins: Origins, tmp_path: Path, name: str, **sections: Any
) -> Config:
    return configure(
        write_config,
        origins,
        tmp_path,
        name,
        vantage=name,
        role="observer",
        api={"listen": "127.0.0.1:0", "read_token": READ_TOKEN},
        **sections,
    )


def peer(name: str, url: str, *, token: str = READ_TOKEN, timeout: str = "1s") -> dict[str, Any]:
    return {"name": name, "url": url, "token": token, "timeout": timeout}


def base_of(receiver: Receiver) -> str:
    return receiver.url.split("/hooks/", 1)[0]


def document(vantage: str, *, age: float, status: str = "healthy") -> bytes:
    """An observer's document seeing every lab region `status`, `age` seconds ago."""
    failing = status == "failing"
    return json.dumps(
        {
            "version": 1,
            "instance": f"{vantage}-1",
            "vantage": vantage,
            "role": "observer",
            "observations": [
                {
                    "region": region,
                    "status": status,
                    "age_s": age,
                    "failure": "transport" if failing else None,
                    "reason": "",
                }
                for region in ("westeurope", "centralus")
            ],
            "decisions": None,
        }
    ).encode()


async def peers_of(url: str) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        body = (await client.get("/api/v1/peers")).json()
    return {p["name"]: p for p in body["peers"]}


async def absent_events(service: Service) -> list[dict[str, Any]]:
    from monitor.events import EventType
    from monitor.eventstore import EventQuery

    stored = await service.store.events(EventQuery(type=EventType.PEER_ABSENT))
    return [{"problem": s.event.problem, "summary": s.event.summary} for s in stored]


async def test_a_real_observers_observations_are_read_fresh_and_counted_by_the_decider(
    two_regions: Origins, write_config: ConfigWriter, tmp_path: Path
) -> None:
    """An observer's own `GET /api/v1/observations` (its `decisions` null) parses as an
    observer's document, and the decider pulling it with the read token shows it fresh and
    counted, its verdicts in the matrix."""
    clock = ManualClock(START)
    watching = observer(write_config, two_regions, tmp_path, "vp2")
    async with serving_service(watching, schedule=False, clock=clock) as (vp2_url, vp2):
        config = decider(write_config, two_regions, tmp_path, [peer("vp2", vp2_url)])
        async with serving_service(config, schedule=False, clock=clock) as (url, vp1):
            await Stepper(clock, vp2, vp1).round()
            async with httpx.AsyncClient(base_url=vp2_url, timeout=5) as client:
                served = await client.get(
                    "/api/v1/observations", headers={"Authorization": f"Bearer {READ_TOKEN}"}
                )
            read = parse(served.json())
            assert (read.role, read.vantage, dict(read.serve)) == ("observer", "vp2", {})
            seen = (await peers_of(url))["vp2"]
            assert (seen["state"], seen["counted"], seen["role"]) == ("fresh", True, "observer")
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                matrix = (await client.get("/api/v1/peers")).json()["matrix"]
            cells = {(c["vantage"], c["region"]): c["status"] for c in matrix}
            assert cells[("vp2", WEST)] == "healthy" and cells[("vp1", WEST)] == "healthy"
            assert await absent_events(vp1) == []


async def test_a_peer_pulled_with_a_wrong_token_is_unauthenticated_absent_and_never_counted(
    two_regions: Origins, write_config: ConfigWriter, tmp_path: Path
) -> None:
    """The observer refuses the decider's token: the peer is `unauthenticated` at once, not
    counted, its verdicts nowhere in the matrix, and `peer.absent` is recorded for it."""
    clock = ManualClock(START)
    watching = observer(write_config, two_regions, tmp_path, "vp2")
    async with serving_service(watching, schedule=False, clock=clock) as (vp2_url, vp2):
        wrong = peer("vp2", vp2_url, token="not-the-read-token")
        config = decider(write_config, two_regions, tmp_path, [wrong])
        async with serving_service(config, schedule=False, clock=clock) as (url, vp1):
            await Stepper(clock, vp2, vp1).rounds(2)
            seen = (await peers_of(url))["vp2"]
            assert (seen["state"], seen["counted"]) == ("unauthenticated", False), seen
            assert "peers[].token" in seen["detail"] and "not-the-read-token" not in seen["detail"]
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                matrix = (await client.get("/api/v1/peers")).json()["matrix"]
            assert {c["vantage"] for c in matrix} == {"vp1"}
            events = await absent_events(vp1)
            assert [e["problem"] for e in events] == ["peer/vp2"], events


async def test_a_peer_answering_something_else_than_observations_is_malformed(
    two_regions: Origins, write_config: ConfigWriter, tmp_path: Path
) -> None:
    """A peer answering 200 with a JSON object that is not an observations document is
    `malformed`, not counted, and `peer.absent` names it."""
    clock = ManualClock(START)
    async with receiving() as fake:
        fake.script.extend(Answer(body=b'{"hello": "world"}') for _ in range(5))
        config = decider(write_config, two_regions, tmp_path, [peer("vp2", base_of(fake))])
        async with serving_service(config, schedule=False, clock=clock) as (url, vp1):
            await Stepper(clock, vp1).rounds(2)
            seen = (await peers_of(url))["vp2"]
            assert (seen["state"], seen["counted"]) == ("malformed", False), seen
            assert "document version" in seen["detail"], seen
            assert [e["problem"] for e in await absent_events(vp1)] == ["peer/vp2"]
        assert fake.received[0].headers["authorization"] == f"Bearer {READ_TOKEN}"


async def test_a_peer_reporting_observations_older_than_two_intervals_is_stale(
    two_regions: Origins, write_config: ConfigWriter, tmp_path: Path
) -> None:
    """A peer that answers every pull at once, with observations it reports 2.5 intervals
    old, is `stale`: answering, never counted, absent."""
    clock = ManualClock(START)
    async with receiving() as fake:
        old = document("vp2", age=2.5 * INTERVAL)
        fake.script.extend(Answer(body=old) for _ in range(5))
        config = decider(write_config, two_regions, tmp_path, [peer("vp2", base_of(fake))])
        async with serving_service(config, schedule=False, clock=clock) as (url, vp1):
            await Stepper(clock, vp1).rounds(2)
            seen = (await peers_of(url))["vp2"]
            assert (seen["state"], seen["counted"]) == ("stale", False), seen
            assert seen["received_at"] is not None
            assert [e["problem"] for e in await absent_events(vp1)] == ["peer/vp2"]


async def test_a_peer_answering_after_its_timeout_is_unreachable(
    two_regions: Origins, write_config: ConfigWriter, tmp_path: Path
) -> None:
    """A peer whose (fresh) document comes only after peers[].timeout (0.2 s) is
    `unreachable`, named by its timeout, and never counted."""
    clock = ManualClock(START)
    async with receiving() as fake:
        fresh = document("vp2", age=0.1)
        fake.script.extend(Answer(body=fresh, delay=1.0) for _ in range(5))
        slow = peer("vp2", base_of(fake), timeout="200ms")
        config = decider(write_config, two_regions, tmp_path, [slow])
        async with serving_service(config, schedule=False, clock=clock) as (url, vp1):
            await Stepper(clock, vp1).rounds(3)
            seen = (await peers_of(url))["vp2"]
            assert (seen["state"], seen["counted"]) == ("unreachable", False), seen
            assert "no answer within 0.2 s" in seen["detail"], seen


@pytest.fixture
def azure_identity(tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service signs in to the emulator as its contributor, from the environment."""
    for key, value in tm.environment().items():
        monkeypatch.setenv(key, value)


ENFORCE = {
    "mode": "enforce",
    "failing_rounds": 2,
    "failing_rounds_without_deploy": 2,
    "healthy_rounds": 2,
    "cooldown": "1s",
    "max_disables_per_hour": 5,
}


def endpoint_status(tm: TrafficManagerEmulator, name: str = WEST) -> str:
    state = tm.profile().endpoint(name)
    assert state is not None
    return str(state.status.value)


async def test_with_every_observer_gone_network_failures_cannot_disable_and_content_ones_can(
    seeded: TrafficManagerEmulator,
    azure_identity: None,
    two_regions: Origins,
    write_config: ConfigWriter,
    tmp_path: Path,
) -> None:
    """Both observers down (nothing listens at their URLs): westeurope refusing every
    connection stays Enabled past failing_rounds, its policy inconclusive with 1 of 3 vantage
    points; answering 500 instead, it is disabled on the decider's own word."""
    clock = ManualClock(START)
    gone = [peer(f"vp{i}", f"http://127.0.0.1:{free_port()}") for i in (2, 3)]
    config = decider(
        write_config,
        two_regions,
        tmp_path,
        gone,
        failover=ENFORCE,
        traffic_manager=seeded.config_section(),
    )
    async with serving_service(config, schedule=False, clock=clock) as (url, vp1):
        stepper = Stepper(clock, vp1)
        await stepper.round()
        two_regions[WEST].inject(Fault.REFUSE)
        await stepper.rounds(4)
        policy = vp1.snapshot.policy
        assert policy is not None
        held = policy.region(WEST)
        assert held.stance.value == "inconclusive", held
        assert "1 of 3 vantage points" in held.reason and "vp2 absent" in held.reason, held
        assert endpoint_status(seeded) == "Enabled"
        states = {name: p["state"] for name, p in (await peers_of(url)).items()}
        assert states == {"vp2": "unreachable", "vp3": "unreachable"}

        two_regions[WEST].heal()
        two_regions[WEST].inject(Fault.ERROR, status=500)
        await stepper.rounds(3)
        assert endpoint_status(seeded) == "Disabled"


async def test_an_observers_healthz_follows_the_decider_and_answers_200_once_it_is_gone(
    seeded: TrafficManagerEmulator,
    azure_identity: None,
    two_regions: Origins,
    write_config: ConfigWriter,
    tmp_path: Path,
) -> None:
    """The decider disables westeurope (500s): the observer's `/healthz?region=westeurope`
    answers 503 naming the decider; with the decider stopped, after two intervals without
    its answers, 200 with `"decider": "unreachable"` (the monitor fails static)."""
    clock = ManualClock(START)
    decider_listener = bind_listener("127.0.0.1", 0)
    observer_listener = bind_listener("127.0.0.1", 0)
    decider_url = f"http://{decider_listener.address}"
    observer_url = f"http://{observer_listener.address}"
    watching = observer(
        write_config,
        two_regions,
        tmp_path,
        "vp2",
        peers=[peer("vp1", decider_url, token=DECIDER_TOKEN)],
    )
    deciding = decider(
        write_config,
        two_regions,
        tmp_path,
        [peer("vp2", observer_url)],
        failover=ENFORCE,
        traffic_manager=seeded.config_section(),
    )

    async def healthz() -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient(base_url=observer_url, timeout=5) as client:
            answer = await client.get("/healthz", params={"region": WEST})
        return answer.status_code, answer.json()

    async with AsyncExitStack() as stack:
        _, vp2 = await stack.enter_async_context(
            serving_service(watching, schedule=False, clock=clock, listener=observer_listener)
        )
        async with serving_service(
            deciding, schedule=False, clock=clock, listener=decider_listener
        ) as (_, vp1):
            stepper = Stepper(clock, vp1, vp2)
            await stepper.round()
            assert await healthz() == (
                200,
                {"region": WEST, "serve": True, "status": "healthy", "decider": "vp1"},
            )
            two_regions[WEST].inject(Fault.ERROR, status=500)
            await stepper.rounds(3)
            assert endpoint_status(seeded) == "Disabled"
            await vp2.pull_peers()
            code, body = await healthz()
            assert (code, body["serve"], body["decider"]) == (503, False, "vp1"), body
        stepper = Stepper(clock, vp2)
        await stepper.rounds(3)  # pulls 0, 1 and 2 intervals after the decider's last answer
        assert (await healthz())[0] == 503  # its last answer holds two intervals
        await stepper.round()
        code, body = await healthz()
        assert (code, body["serve"], body["decider"]) == (200, True, "unreachable"), body
