"""`regionwatch lab` as a newcomer runs it: a real process, its fault panel, and Ctrl-C."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import read_banner, start_lab
from servers import eventually


async def statuses(client: httpx.AsyncClient) -> dict[str, str]:
    body = (await client.get("/api/v1/regions")).json()
    return {r["name"]: r["status"] for r in body["regions"]}


def refused(address: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((address, port)) != 0


async def test_lab_takes_a_bad_deploy_out_of_traffic_manager_puts_it_back_and_stops_cleanly() -> (
    None
):
    """The banner's story: release 2.0.0 to westeurope, broken (500): failing within three
    rounds, then disabled in Traffic Manager with the deploy and the cause in the event, and
    Europe's DNS failing over; release 2.0.1, healed: enabled again. Ctrl-C stops the process
    and leaves no port or temporary folder behind."""
    process = await start_lab("--port", "0", "--interval", "1s", stderr=asyncio.subprocess.DEVNULL)
    try:
        banner = await read_banner(process)
        base = re.search(r"regions \(JSON\) (http://127\.0\.0\.1:\d+)/", banner)
        workdir = re.search(r"configuration +(\S+)", banner)
        assert base and workdir, banner
        token = re.search(r"^  api token +(\S+)", banner, re.MULTILINE)
        assert token, banner
        assert (
            f"REGIONWATCH_TOKEN={token.group(1)} .venv/bin/regionwatch deploy --region "
            f"westeurope --version 2.0.0 --url {base.group(1)}"
        ) in banner
        async with httpx.AsyncClient(base_url=base.group(1), timeout=5) as client:
            await eventually(lambda: _all_healthy(client), timeout=20, interval=0.2)
            panel = (await client.get("/lab")).json()["regions"]

            # 1. A release, and 2. it is broken.
            deployed = await client.post(
                "/lab/regions/westeurope/deploy", json={"version": "2.0.0"}
            )
            assert deployed.json()["release"] == "2.0.0"
            injected_at = datetime.now().astimezone()
            fault = await client.post("/lab/regions/westeurope/faults/error", json={"status": 500})
            assert fault.status_code == 200, fault.text
            assert fault.json()["faults"] == {"error": {"status": 500, "every": 1}}

            async def westeurope_failing() -> bool:
                return (await statuses(client))["westeurope"] == "failing"

            await eventually(westeurope_failing, timeout=20, interval=0.2)
            history = (await client.get("/api/v1/regions/westeurope")).json()["history"]
            since = [h for h in history if datetime.fromisoformat(h["decided_at"]) > injected_at]
            # History is newest first: one of the first three rounds after the fault failed.
            first_three = [h["status"] for h in reversed(since)][:3]
            assert "failing" in first_three, since
            assert (await statuses(client))["centralus"] == "healthy"

            # 3. and 4. Taken out of Traffic Manager, with the reason; Europe fails over.
            await eventually(lambda: _endpoint_is(client, "Disabled"), timeout=20, interval=0.2)
            disabled = await _events(client, "endpoint.disabled")
            assert len(disabled) == 1, disabled
            assert "new release 2.0.0" in disabled[0]["summary"], disabled[0]
            assert "status 500" in disabled[0]["summary"], disabled[0]
            assert "centralus is healthy and covers WORLD" in disabled[0]["summary"]
            deploys = [e["evidence"]["version"] for e in await _events(client, "deploy.recorded")]
            assert deploys == ["2.0.0"]

            async def europe_failed_over() -> bool:
                answers = (await client.get("/api/v1/dns")).json()["dns"]
                europe = [a for a in answers if a["resolver"] == "eu" and a["vantage"] == "europe"]
                return bool(europe) and europe[0]["status"] == "failover"

            await eventually(europe_failed_over, timeout=20, interval=0.2)
            page = (await client.get("/")).text
            assert 'data-region="westeurope"' in page and 'data-section="dns"' in page

            # 6. The fix: enabled again after the healthy rounds, once.
            await client.post("/lab/regions/westeurope/deploy", json={"version": "2.0.1"})
            assert (await client.post("/lab/regions/westeurope/heal")).json()["faults"] == {}
            await eventually(lambda: _endpoint_is(client, "Enabled"), timeout=20, interval=0.2)
            enabled = await _events(client, "endpoint.enabled")
            assert len(enabled) == 1, enabled
            assert "healthy for 3 rounds in a row" in enabled[0]["summary"], enabled[0]
            assert len(await _events(client, "endpoint.disabled")) == 1
            await eventually(lambda: _all_healthy(client), timeout=20, interval=0.2)

            broken = await client.post("/lab/resolvers/us/faults/servfail")
            assert broken.json()["faults"] == {"servfail": {"every": 1}}

            async def us_servfail() -> bool:
                answers = (await client.get("/api/v1/dns")).json()["dns"]
                return any(a["resolver"] == "us" and a["status"] == "servfail" for a in answers)

            await eventually(us_servfail, timeout=20, interval=0.2)

            bad = await client.post("/lab/regions/westeurope/faults/meltdown")
            assert bad.status_code == 422
            assert "unknown fault 'meltdown'" in bad.json()["detail"]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), timeout=20)
    assert code == 0
    port = int(base.group(1).rsplit(":", 1)[1])
    assert refused("127.0.0.1", port)
    for region in panel.values():
        assert refused(region["address"], region["https_port"])
        assert refused(region["address"], region["http_port"])
    assert not Path(workdir.group(1)).parent.exists()


async def _endpoint_is(client: httpx.AsyncClient, status: str) -> bool:
    """westeurope's endpoint has `status` in Traffic Manager, as the service last read it."""
    profile = (await client.get("/api/v1/traffic-manager")).json()["profile"] or {}
    endpoints = {e["name"]: e["endpoint_status"] for e in profile.get("endpoints", [])}
    return endpoints.get("westeurope") == status


async def _events(client: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    """westeurope's events of one type, newest first."""
    page = await client.get("/api/v1/events", params={"type": kind, "region": "westeurope"})
    events: list[dict[str, Any]] = page.json()["events"]
    return events


async def _all_healthy(client: httpx.AsyncClient) -> bool:
    try:
        return set((await statuses(client)).values()) == {"healthy"}
    except httpx.HTTPError:
        return False


@pytest.mark.slow
async def test_sigterm_stops_the_lab_with_exit_0_within_10s_and_leaves_no_folder(
    tmp_path: Path,
) -> None:
    """SIGTERM while a Traffic Manager read hangs: exit 0 within 10 s, temporary folder gone."""
    process = await start_lab("--port", "0", "--interval", "1s", tmp_path=tmp_path)
    assert process.stderr is not None
    drain = asyncio.create_task(process.stderr.read())  # the log must not fill the pipe
    try:
        banner = await read_banner(process)
        base = re.search(r"regions \(JSON\) (http://127\.0\.0\.1:\d+)/", banner)
        assert base, banner
        assert list(tmp_path.glob("regionwatch-lab-*"))
        async with httpx.AsyncClient(base_url=base.group(1), timeout=5) as client:
            hang = {"status": None, "method": "GET", "delay": 600, "count": 1}
            hang["path_contains"] = "trafficmanagerprofiles/blog"
            assert (await client.post("/lab/traffic-manager/faults", json=hang)).is_success

            async def read_in_flight() -> bool:
                # The one-shot fault is taken when a read arrives, and that read never ends.
                return (await client.get("/lab/traffic-manager")).json()["arm_faults"] == 0

            await eventually(read_in_flight, timeout=20, interval=0.1)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=20)
        took = time.monotonic() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = (await drain).decode(errors="replace")
    assert code == 0, log[-3000:]
    assert took < 10, f"took {took:.1f}s to stop"
    assert list(tmp_path.glob("regionwatch-lab-*")) == []


@pytest.mark.slow
async def test_a_busy_port_ends_the_lab_with_exit_4_and_one_line(tmp_path: Path) -> None:
    """The lab's port is taken: exit 4, one line naming the port, no traceback, nothing
    started (no temporary folder made)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        process = await start_lab("--port", str(port), tmp_path=tmp_path)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 4, err.decode()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], err.decode()
    assert list(tmp_path.glob("regionwatch-lab-*")) == []
