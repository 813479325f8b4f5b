"""`regionwatch lab --vantage-points 3` as a real process: one path cut is not a region down,
the region itself down is (docs/failover.md, "Several vantage points")."""

from __future__ import annotations

import asyncio
import re
import signal
from typing import Any

import httpx
import pytest
from processes import lab_instances, read_banner, start_lab
from servers import eventually

from lab.loopback import vantage_address
from lab.sandbox import LAB_FAILOVER

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        vantage_address(0) is None, reason="needs 127.0.0.0/8 on loopback to tell paths apart"
    ),
]

WEST = "westeurope"
# Rounds past failing_rounds (in the deploy window) that a cut path must ride out.
BEYOND = 3


async def policy(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/v1/regions/{WEST}")).json()["policy"]
    return body


async def endpoint(client: httpx.AsyncClient) -> str:
    """westeurope's status in the emulator itself (not as the service last read it)."""
    state = (await client.get("/lab/traffic-manager")).json()
    return str(state["endpoints"][WEST]["endpoint_status"])


async def peer_states(client: httpx.AsyncClient) -> dict[str, tuple[str, bool]]:
    body = (await client.get("/api/v1/peers")).json()
    return {p["name"]: (p["state"], p["counted"]) for p in body["peers"]}


async def failing_streak(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    """How many rounds in a row the instance behind `client` has seen westeurope failing."""
    streak = (await client.get(f"/api/v1/regions/{WEST}", headers=headers)).json()["streak"]
    return int(streak["rounds"]) if streak and streak["status"] == "failing" else 0


async def ride_out(
    decider: httpx.AsyncClient, failing_from: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """Until the vantage point behind `failing_from` has seen westeurope failing for
    failing_rounds + BEYOND rounds in a row, the emulator keeps westeurope Enabled."""
    rounds = LAB_FAILOVER["failing_rounds"] + BEYOND

    async def long_enough() -> bool:
        assert await endpoint(decider) == "Enabled"
        return await failing_streak(failing_from, headers) >= rounds

    await eventually(long_enough, timeout=4 * rounds, interval=0.2)
    assert await endpoint(decider) == "Enabled"


async def test_three_vantage_points_ride_out_a_cut_path_and_disable_a_region_all_see_failing() -> (
    None
):
    """With three vantage points at 1 s: vp1's path to westeurope refused changes nothing in
    Traffic Manager past failing_rounds (the decider inconclusive with 1 of 3, both observers
    fresh); vp2's path cut changes nothing either; westeurope refusing everyone is disabled,
    the audit trail's decision naming vp1, vp2 and vp3 failing, and an observer's /healthz
    answers 503 as the decider does. Ctrl-C stops all three with exit 0."""
    process = await start_lab(
        "--port",
        "0",
        "--interval",
        "1s",
        "--vantage-points",
        "3",
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        banner = await read_banner(process)
        instances = lab_instances(banner)
        assert [(v, role) for v, (role, _) in instances.items()] == [
            ("vp1", "decider"),
            ("vp2", "observer"),
            ("vp3", "observer"),
        ], banner
        token = re.search(r"^  api token +(\S+)", banner, re.MULTILINE)
        read_token = re.search(r"^  read token +(\S+)", banner, re.MULTILINE)
        assert token and read_token, banner
        base = instances["vp1"][1]
        assert f"{base}/lab/paths/vp1/westeurope/cut" in banner
        observer = instances["vp2"][1]
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            paths = (await client.get("/lab/paths")).json()
            assert paths["vantage_points"] == {
                "vp1": "127.0.1.1",
                "vp2": "127.0.1.2",
                "vp3": "127.0.1.3",
            }
            every = {(p["vantage"], p["region"]): p["state"] for p in paths["paths"]}
            assert len(every) == 6 and set(every.values()) == {"open"}, every

            async def all_fresh() -> bool:
                states = await peer_states(client)
                return states == {"vp2": ("fresh", True), "vp3": ("fresh", True)}

            await eventually(all_fresh, timeout=30, interval=0.2)
            # A deploy window: failing_rounds (not failing_rounds_without_deploy) would act.
            marked = await client.post(
                "/api/v1/deploys",
                json={"region": WEST, "version": "2.0.0"},
                headers={"Authorization": f"Bearer {token.group(1)}"},
            )
            assert marked.status_code in (200, 201), marked.text

            # vp1's path cut: the decider alone sees westeurope failing.
            cut = await client.post(f"/lab/paths/vp1/{WEST}/cut", json={"how": "refuse"})
            assert cut.status_code == 200, cut.text
            cut_now = [p for p in cut.json()["paths"] if p["state"] == "cut"]
            assert cut_now == [{"vantage": "vp1", "region": WEST, "state": "cut", "how": "refuse"}]

            async def inconclusive() -> bool:
                held = await policy(client)
                return held["state"] == "inconclusive" and "1 of 3 vantage points" in held["reason"]

            await eventually(inconclusive, timeout=20, interval=0.2)
            await ride_out(client, client, {})
            assert await inconclusive()
            assert await all_fresh()
            await client.post(f"/lab/paths/vp1/{WEST}/restore")

            async def serving() -> bool:
                return (await policy(client))["state"] == "serving"

            await eventually(serving, timeout=20, interval=0.2)

            # vp2's path cut: one observer alone sees it failing.
            await client.post(f"/lab/paths/vp2/{WEST}/cut", json={"how": "refuse"})
            readable = {"Authorization": f"Bearer {read_token.group(1)}"}
            async with httpx.AsyncClient(base_url=observer, timeout=5) as vp2:
                await ride_out(client, vp2, readable)
            assert (await policy(client))["state"] == "serving"
            await client.post(f"/lab/paths/vp2/{WEST}/restore")

            # westeurope itself refuses everyone: taken out, every vantage point agreeing.
            broken = await client.post(f"/lab/regions/{WEST}/faults/refuse")
            assert broken.status_code == 200, broken.text

            async def disabled() -> bool:
                return await endpoint(client) == "Disabled"

            await eventually(disabled, timeout=30, interval=0.2)
            audit = (await client.get("/api/v1/audit")).json()["entries"]
            (decision,) = [e for e in audit if e["change"] == "disable" and e["region"] == WEST]
            action = (await client.get(f"/api/v1/actions/{decision['id']}")).json()
            seen = action["evidence"]["vantage_points"]
            assert sorted(seen["failing"]) == ["vp1", "vp2", "vp3"], seen
            assert (seen["vantage_points"], seen["majority"]) == (3, True), seen
            assert "3 of 3 vantage points" in action["reason"], action["reason"]

        async with httpx.AsyncClient(base_url=observer, timeout=5) as client:

            async def observer_says_out() -> bool:
                answer = await client.get("/healthz", params={"region": WEST})
                return answer.status_code == 503 and answer.json()["decider"] == "vp1"

            await eventually(observer_says_out, timeout=10, interval=0.2)
            # Its API is behind the read token: the banner's token opens it.
            assert (await client.get("/api/v1/regions")).status_code == 401
            headers = {"Authorization": f"Bearer {read_token.group(1)}"}
            assert (await client.get("/api/v1/regions", headers=headers)).status_code == 200
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), timeout=20)
    assert code == 0
