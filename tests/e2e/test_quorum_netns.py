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
import yaml
from conftest import HOSTNAME
from netns import Network, unavailable
from processes import Run
from servers import eventually

from lab.certs import LabCA
from lab.sandbox import MODEL_REQUESTS

pytestmark = [pytest.mark.slow]

REGIONS = {"westeurope": 21, "centralus": 22}
VANTAGE_POINTS = {"vp1": 11, "vp2": 12, "vp3": 13}  # vp1 decides
OBSERVERS = ("vp2", "vp3")
PORT = 8000
TESTS = str(Path(__file__).resolve().parents[1])
# Children reach one another by address or by the names in their namespace's hosts file:
# never through a proxy the environment may name.
CHILD_ENV = {"PYTHONPATH": TESTS, "NO_PROXY": "*", "no_proxy": "*"}
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


@dataclass
class Quorum:
    """The running topology: the network, the origins' processes (which take fault commands
    on their standard input) and the decider's API."""

    net: Network
    origins: dict[str, Run]
    base: str
    read_token: str

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
        process = self.origins[region].process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(f"{line}\n".encode())
        await process.stdin.drain()
        answer = await asyncio.wait_for(process.stdout.readline(), timeout=5)
        assert answer == b"ok\n", answer

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
    tmp: Path, name: str, address: str, ca_file: Path, read_token: str, **sections: Any
) -> Path:
    folder = tmp / name
    folder.mkdir()
    config: dict[str, Any] = {
        "site": {"hostname": HOSTNAME},
        "regions": {
            region: {"address": f"{address.rsplit('.', 1)[0]}.{host}", "port": 443, "http_port": 80}
            for region, host in REGIONS.items()
        },
        "tls": {"ca_file": str(ca_file)},
        "checks": {"https": {"interval": "1s", "timeout": "1s", "requests": MODEL_REQUESTS}},
        "api": {"listen": f"{address}:{PORT}", "read_token": read_token},
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


@pytest.fixture
async def quorum(namespaces: None, tmp_path: Path, lab_ca: LabCA) -> AsyncIterator[Quorum]:
    """Three vantage points and two regions, each in its namespace, everything healthy, the
    decider ready (write access confirmed) and both observers counted."""
    ca_cert = tmp_path / "lab-ca.pem"
    ca_key = tmp_path / "lab-ca.key"
    ca_cert.write_bytes(lab_ca.authority.cert_pem.bytes())
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
                    *("--ca-cert", str(ca_cert), "--ca-key", str(ca_key)),
                    log=tmp_path / f"{region}.log",
                    env=CHILD_ENV,
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
                *("--workdir", str(tmp_path)),
                log=tmp_path / "trafficmanager.log",
                env=CHILD_ENV,
                stdout=True,
            )
        )
        lines = await asyncio.gather(*(_first_line(r) for r in [*origins.values(), emulator]))
        assert lines[:2] == [b"ready\n", b"ready\n"], lines
        tm = json.loads(lines[2])

        decider = _config(
            tmp_path,
            "vp1",
            net.nodes["vp1"].address,
            ca_cert,
            read_token,
            role="decider",
            peers=[_peer(name, read_token) for name in OBSERVERS],
            traffic_manager=tm["config"],
            failover=FAILOVER,
        )
        configs = {"vp1": decider}
        for name in OBSERVERS:
            configs[name] = _config(
                tmp_path,
                name,
                net.nodes[name].address,
                ca_cert,
                read_token,
                role="observer",
                peers=[_peer("vp1", read_token)],
            )
        for name, config in configs.items():
            env = {**CHILD_ENV, **(tm["environment"] if name == "vp1" else {})}
            await stack.enter_async_context(
                net.process(
                    name,
                    *(python, "-m", "regionwatch", "run", "--config", str(config)),
                    log=tmp_path / f"{name}.log",
                    env=env,
                )
            )
        found = Quorum(net, origins, f"http://{net.nodes['vp1'].address}:{PORT}", read_token)

        async def counted() -> bool:
            peers = await found.answering("/api/v1/peers")
            return peers is not None and all(p["counted"] for p in peers["peers"])

        async def ready() -> bool:
            try:
                async with httpx.AsyncClient(timeout=1, trust_env=False) as client:
                    return (await client.get(f"{found.base}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            # Generous: three services importing at once on a loaded machine take a while.
            await eventually(ready, timeout=90, interval=0.1)
            await eventually(counted, timeout=15, interval=0.1)
        except TimeoutError:
            logs = {p.name: p.read_text(errors="replace")[-1500:] for p in tmp_path.glob("*.log")}
            pytest.fail(f"the quorum did not come up: {logs}")
        yield found


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
    assert "seen failing from vp1 (1 of 3 vantage points; vp2 and vp3 see it serving)" in (
        policy["reason"]
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
    seen = action["evidence"]["vantage_points"]
    assert seen["failing"] == ["vp1", "vp2", "vp3"]
    assert (seen["majority"], seen["vantage_points"], seen["absent"]) == (True, 3, {})
    assert "seen failing from vp1, vp2 and vp3 (3 of 3 vantage points)" in action["reason"]
    audit = await quorum.get("/api/v1/audit")
    [entry] = [e for e in audit["entries"] if e.get("id") == action["id"]]
    assert entry["evidence"]["vantage_points"]["failing"] == ["vp1", "vp2", "vp3"]


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
        conditions = {e["condition"] for e in events["events"]}
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
