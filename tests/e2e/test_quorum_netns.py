"""The quorum across real network partitions: the decider and two observers, each
`regionwatch run` in a network namespace of its own, probing westeurope and centralus, each
origin in its own namespace, all joined through a router namespace (tests/netns.py). A
partition is a blackhole in the router: packets vanish, connections time out, as when a path
between two places breaks; nothing is refused by address.

Traffic Manager is the lab's emulator, a process in the decider's namespace (it listens on
loopback only) with both endpoints pinned Online: its probes come from Azure's own locations,
which no partition of these tests reaches, so it is never the second witness here and only the
vantage points' quorum (or a content failure) can take westeurope out. The decider runs in
`failover.mode: enforce` at a 1 s interval and disables after three failing rounds.

Needs root and iproute2's `ip netns`; skipped, saying why, where namespaces cannot be made.
The loopback variant of these cases, for machines without namespaces, is
tests/e2e/test_lab_vantage_points.py.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from netns import Network, unavailable
from processes import Run
from servers import eventually

from lab.certs import LabCA
from lab.sandbox import LAB_HOSTNAME as HOSTNAME
from lab.sandbox import MODEL_REQUESTS

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

REGIONS = {"westeurope": 21, "centralus": 22}
VANTAGE_POINTS = {"vp1": 11, "vp2": 12, "vp3": 13}  # vp1 decides
OBSERVERS = ("vp2", "vp3")
PORT = 8000
TESTS = str(Path(__file__).resolve().parents[1])
# Children reach one another by address or by the names in their namespace's hosts file:
# never through a proxy the environment may name.
PROXYLESS = {"NO_PROXY": "*", "no_proxy": "*"}
FAILOVER = {
    "mode": "enforce",
    "failing_rounds": 3,
    "failing_rounds_without_deploy": 3,
    "streak_gap": "30s",
}


@pytest.fixture(scope="module")
def namespaces() -> None:
    """Skip the module, saying why, where network namespaces cannot be made."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)


async def _command(run: Run, line: str) -> None:
    """A command to a netns_serve process (`inject error status=503`, `heal`, `reset`)."""
    process = run.process
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(f"{line}\n".encode())
    await process.stdin.drain()
    answer = await asyncio.wait_for(process.stdout.readline(), timeout=10)
    assert answer == b"ok\n", answer


@dataclass
class Topology:
    """What the module's tests share: the network, the origins' and the emulator's processes
    (which take commands on their standard input), both observers running, and what a decider
    needs to join them."""

    net: Network
    origins: dict[str, Run]
    emulator: Run
    tm: dict[str, Any]
    ca_file: Path
    read_token: str
    env: dict[str, str]  # every child's


@dataclass
class Quorum:
    """One test's decider, running with the shared topology: its API, and the commands."""

    topology: Topology
    base: str

    @property
    def net(self) -> Network:
        return self.topology.net

    @property
    def read_token(self) -> str:
        return self.topology.read_token

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
            answer = await client.get(
                f"{self.base}{path}", headers={"Authorization": f"Bearer {self.read_token}"}
            )
        answer.raise_for_status()
        return answer.json()

    async def answering(self, path: str) -> Any:
        """`get`, or None while the decider does not answer (starting)."""
        try:
            return await self.get(path)
        except httpx.HTTPError:
            return None

    async def command(self, region: str, line: str) -> None:
        """A fault command to a region's origin (`inject error status=503`, `heal`)."""
        await _command(self.topology.origins[region], line)

    async def region(self, name: str) -> dict[str, Any]:
        return dict(await self.get(f"/api/v1/regions/{name}"))

    async def actions(self) -> list[dict[str, Any]]:
        return list((await self.get("/api/v1/actions"))["actions"])

    async def failing_for(self, name: str, rounds: int) -> bool:
        """Whether the decider has seen `name` failing for at least `rounds` rounds in a row."""
        streak = (await self.region(name))["streak"]
        return bool(streak and streak["status"] == "failing" and streak["rounds"] >= rounds)

    async def disabled(self, name: str) -> dict[str, Any] | None:
        """The decision that took `name` out of Traffic Manager, once carried out."""
        for action in await self.actions():
            if (action["region"], action["action"], action["result"]) == (name, "disable", "done"):
                return action
        return None


def _config(
    tmp: Path, net: Network, name: str, ca_file: Path, read_token: str, **sections: Any
) -> Path:
    """Vantage point `name`'s configuration: both regions at their namespaces' addresses, its
    API on its own address, its store in a folder of its own."""
    folder = tmp / name
    folder.mkdir()
    config: dict[str, Any] = {
        "site": {"hostname": HOSTNAME},
        "regions": {
            region: {"address": net.nodes[region].address, "port": 443, "http_port": 80}
            for region in REGIONS
        },
        "tls": {"ca_file": str(ca_file)},
        "checks": {"https": {"interval": "1s", "timeout": "1s", "requests": MODEL_REQUESTS}},
        "api": {"listen": f"{net.nodes[name].address}:{PORT}", "read_token": read_token},
        "storage": {"path": str(folder / "regionwatch.db")},
        "vantage": name,
        **sections,
    }
    path = folder / "regionwatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _peer(name: str, read_token: str) -> dict[str, Any]:
    # A one-label name (the namespace's hosts file): plain http, as to an in-cluster Service.
    return {"name": name, "url": f"http://{name}:{PORT}", "token": read_token, "timeout": "1s"}


async def _first_line(run: Run) -> bytes:
    assert run.process.stdout is not None
    line = await asyncio.wait_for(run.process.stdout.readline(), timeout=60)
    assert line, f"exited before it was ready: {run.stderr[-2000:]}"
    return line


async def _ready(base: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1, trust_env=False) as client:
            return (await client.get(f"{base}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


def _logs(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace")[-1500:] for p in folder.glob("*.log")}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def topology(
    namespaces: None, tmp_path_factory: pytest.TempPathFactory, lab_ca: LabCA
) -> AsyncIterator[Topology]:
    """The vantage points' and the regions' namespaces; both origins, the emulator (in vp1's
    namespace) and both observers running; shared by the module's tests, each of which starts
    its own decider and leaves the network, the origins and the emulator as it found them."""
    tmp = tmp_path_factory.mktemp("quorum")
    # Compiled once into a folder of the session's, then read by every later process (each
    # test's decider): on a loaded machine, compiling regionwatch's imports again takes seconds.
    child_env = {
        **PROXYLESS,
        "PYTHONPATH": TESTS,
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": str(tmp_path_factory.mktemp("pycache")),
    }
    ca_file, ca_key = tmp / "lab-ca.pem", tmp / "lab-ca.key"
    ca_file.write_bytes(lab_ca.authority.cert_pem.bytes())
    ca_key.write_bytes(lab_ca.authority.private_key_pem.bytes())
    read_token = secrets.token_urlsafe(16)
    python = sys.executable
    async with Network() as net, AsyncExitStack() as stack:
        for name, host in {**VANTAGE_POINTS, **REGIONS}.items():
            await net.add(name, host)
        origins = {
            region: await stack.enter_async_context(
                net.process(
                    region,
                    *(python, "-m", "netns_serve", "origin", "--region", region),
                    *("--hostname", HOSTNAME, "--address", net.nodes[region].address),
                    *("--ca-cert", str(ca_file), "--ca-key", str(ca_key)),
                    log=tmp / f"{region}.log",
                    env=child_env,
                    stdin=True,
                    stdout=True,
                )
            )
            for region in REGIONS
        }
        targets = [f"--target={r}={net.nodes[r].address}" for r in REGIONS]
        emulator = await stack.enter_async_context(
            net.process(
                "vp1",
                *(python, "-m", "netns_serve", "trafficmanager", *targets),
                *("--workdir", str(tmp)),
                log=tmp / "trafficmanager.log",
                env=child_env,
                stdin=True,
                stdout=True,
            )
        )
        for name in OBSERVERS:
            config = _config(
                tmp,
                net,
                name,
                ca_file,
                read_token,
                role="observer",
                peers=[_peer("vp1", read_token)],
            )
            await stack.enter_async_context(
                net.process(
                    name,
                    *(python, "-m", "regionwatch", "run", "--config", str(config)),
                    log=tmp / f"{name}.log",
                    env=child_env,
                )
            )
        lines = await asyncio.gather(*(_first_line(r) for r in [*origins.values(), emulator]))
        assert lines[:2] == [b"ready\n", b"ready\n"], lines
        observers = [f"http://{net.nodes[name].address}:{PORT}" for name in OBSERVERS]
        try:
            # Generous: services importing at once on a loaded machine take a while.
            for base in observers:
                await eventually(functools.partial(_ready, base), timeout=90, interval=0.1)
        except TimeoutError:
            pytest.fail(f"the observers did not come up: {_logs(tmp)}")
        tm = json.loads(lines[2])
        yield Topology(net, origins, emulator, tm, ca_file, read_token, child_env)


@pytest_asyncio.fixture(loop_scope="module")
async def quorum(topology: Topology, tmp_path: Path) -> AsyncIterator[Quorum]:
    """A decider of its own (a fresh store, Traffic Manager's profile seeded afresh) with
    both observers counted and every vantage point seeing both regions healthy; on the way
    out, every partition healed and every origin fault cleared."""
    net = topology.net
    await _command(topology.emulator, "reset")
    config = _config(
        tmp_path,
        net,
        "vp1",
        topology.ca_file,
        topology.read_token,
        role="decider",
        peers=[_peer(name, topology.read_token) for name in OBSERVERS],
        traffic_manager=topology.tm["config"],
        failover=FAILOVER,
    )
    found = Quorum(topology, f"http://{net.nodes['vp1'].address}:{PORT}")

    async def settled() -> bool:
        peers = await found.answering("/api/v1/peers")
        if peers is None or not all(p["counted"] for p in peers["peers"]):
            return False
        cells = peers["matrix"]
        return len(cells) == 6 and all(c["status"] == "healthy" for c in cells)

    try:
        async with net.process(
            "vp1",
            *(sys.executable, "-m", "regionwatch", "run", "--config", str(config)),
            log=tmp_path / "vp1.log",
            env={**topology.env, **topology.tm["environment"]},
        ):
            try:
                await eventually(lambda: _ready(found.base), timeout=90, interval=0.1)
                await eventually(settled, timeout=20, interval=0.1)
            except TimeoutError:
                pytest.fail(f"the decider did not come up with its peers: {_logs(tmp_path)}")
            yield found
    finally:
        await net.heal_all()
        for origin in topology.origins.values():
            await _command(origin, "heal")


def _cells(peers: dict[str, Any], region: str) -> dict[str, dict[str, Any]]:
    return {cell["vantage"]: cell for cell in peers["matrix"] if cell["region"] == region}


async def test_a_partition_between_the_decider_and_a_region_is_not_a_quorum(
    quorum: Quorum,
) -> None:
    """The decider cut off from westeurope, the observers not: westeurope is not disabled,
    the policy is inconclusive naming 1 of 3 vantage points, and the matrix shows the
    partition (vp1 failing westeurope by transport, vp2 and vp3 seeing it healthy)."""
    await quorum.net.partition("vp1", "westeurope")

    # Past the three failing rounds that would disable it on the decider's word alone.
    await eventually(lambda: quorum.failing_for("westeurope", 4), timeout=20, interval=0.1)
    policy = (await quorum.region("westeurope"))["policy"]
    assert policy["state"] == "inconclusive", policy
    assert (
        "seen failing from vp1 (1 of 3 vantage points; vp2 and vp3 see it serving)"
        in (policy["reason"])
    )
    assert await quorum.actions() == []

    cells = _cells(await quorum.get("/api/v1/peers"), "westeurope")
    assert (cells["vp1"]["status"], cells["vp1"]["failure"]) == ("failing", "transport")
    assert [cells[vp]["status"] for vp in OBSERVERS] == ["healthy", "healthy"]
    assert all(cell["counted"] for cell in cells.values())
    central = _cells(await quorum.get("/api/v1/peers"), "centralus")
    assert {vp: cell["status"] for vp, cell in central.items()} == dict.fromkeys(
        VANTAGE_POINTS, "healthy"
    )


async def test_a_region_cut_off_from_every_vantage_point_is_disabled_on_their_word(
    quorum: Quorum,
) -> None:
    """westeurope's route dropped for everyone: disabled, Traffic Manager still saying
    Online, the audit trail's evidence naming vp1, vp2 and vp3 as the majority."""
    await quorum.net.isolate("westeurope")

    async def disabled() -> dict[str, Any] | None:
        return await quorum.disabled("westeurope")

    await eventually(disabled, timeout=20, interval=0.1)
    action = await disabled()
    assert action is not None
    audit = await quorum.get("/api/v1/audit")
    [entry] = [e for e in audit["entries"] if e["id"] == action["id"]]
    assert (entry["kind"], entry["change"], entry["by"]) == ("action", "disable", "regionwatch")
    assert "seen failing from vp1, vp2 and vp3 (3 of 3 vantage points)" in entry["reason"]
    recorded = await quorum.get(f"/api/v1/actions/{action['id']}")
    seen = recorded["evidence"]["vantage_points"]
    assert seen["failing"] == ["vp1", "vp2", "vp3"]
    assert (seen["majority"], seen["vantage_points"], seen["absent"]) == (True, 3, {})


async def test_without_its_observers_the_decider_acts_on_content_failures_only(
    quorum: Quorum,
) -> None:
    """Both observers cut off from the decider: they are absent (`peer.absent`), a network
    failure the decider alone sees does not disable westeurope, and a 503 from it (a content
    failure, the same from anywhere) still does, the evidence naming both observers absent."""
    for observer in OBSERVERS:
        await quorum.net.partition("vp1", observer)

    async def absent() -> bool:
        events = await quorum.get("/api/v1/events?type=peer.absent")
        conditions = {e["problem"] for e in events["events"]}
        return conditions >= {"peer/vp2", "peer/vp3"}

    await eventually(absent, timeout=15, interval=0.1)
    peers = {p["name"]: p for p in (await quorum.get("/api/v1/peers"))["peers"]}
    assert [(peers[o]["state"], peers[o]["counted"]) for o in OBSERVERS] == [
        ("unreachable", False),
        ("unreachable", False),
    ]

    await quorum.net.partition("vp1", "westeurope")
    await eventually(lambda: quorum.failing_for("westeurope", 4), timeout=20, interval=0.1)
    policy = (await quorum.region("westeurope"))["policy"]
    assert policy["state"] == "inconclusive", policy
    assert "seen failing from vp1 (1 of 3 vantage points; vp2 absent" in policy["reason"]
    assert await quorum.actions() == []

    await quorum.net.heal("vp1", "westeurope")
    await quorum.command("westeurope", "inject error status=503")

    async def disabled() -> dict[str, Any] | None:
        return await quorum.disabled("westeurope")

    await eventually(disabled, timeout=20, interval=0.1)
    action = await disabled()
    assert action is not None
    seen = action["evidence"]["vantage_points"]
    assert (seen["failing"], seen["majority"]) == (["vp1"], False)
    assert set(seen["absent"]) == {"vp2", "vp3"}
