"""Time to take a broken region out with one and with three vantage points, in the lab.

`.venv/bin/python bench/lab_vantage_points.py` (`--help` for its options; `make bench` runs it):
it prints a Markdown table, reported in docs/benchmarks.md ("Time to fail over").

Each run starts `regionwatch lab --interval 1s --vantage-points N` as a process, waits until
both regions are healthy and (N > 1) every observer is fresh on the decider, marks a deploy
of westeurope (so failing_rounds, 3, applies), then breaks westeurope for everyone, either
refusing every connection (a network failure: with one vantage point it needs Traffic
Manager's own probes saying Degraded, with three a majority of them) or answering 500 (a
content failure: the decider's own word is enough). Timed from the break to the endpoint
Disabled in the emulator (polled every 50 ms), then from SIGTERM to the process's exit.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import time
from pathlib import Path
from statistics import median

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from processes import read_banner, start_lab
from servers import eventually

FAULTS = {"refuse": ("refuse", None), "500": ("error", {"status": 500})}


async def one_run(vantage_points: int, fault: str) -> tuple[float, float]:
    """Seconds from the break to Disabled, and from SIGTERM to exit."""
    process = await start_lab(
        "--port",
        "0",
        "--interval",
        "1s",
        "--vantage-points",
        str(vantage_points),
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        banner = await read_banner(process)
        found = re.search(r"regions \(JSON\) (http://127\.0\.0\.1:\d+)/", banner)
        token = re.search(r"^  api token +(\S+)", banner, re.MULTILINE)
        assert found and token, banner
        async with httpx.AsyncClient(base_url=found.group(1), timeout=5) as client:
            await eventually(lambda: _ready(client, vantage_points), timeout=60, interval=0.05)
            await client.post(
                "/api/v1/deploys",
                json={"region": "westeurope", "version": "2.0.0"},
                headers={"Authorization": f"Bearer {token.group(1)}"},
            )
            name, params = FAULTS[fault]
            broke = time.monotonic()
            await client.post(f"/lab/regions/westeurope/faults/{name}", json=params)
            await eventually(lambda: _disabled(client), timeout=60, interval=0.05)
            to_disable = time.monotonic() - broke
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
        assert code == 0, code
        return to_disable, time.monotonic() - stopping
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _ready(client: httpx.AsyncClient, vantage_points: int) -> bool:
    regions = (await client.get("/api/v1/regions")).json()["regions"]
    if {r["status"] for r in regions} != {"healthy"}:
        return False
    if vantage_points == 1:
        return True
    peers = (await client.get("/api/v1/peers")).json()["peers"]
    return len(peers) == vantage_points - 1 and all(p["state"] == "fresh" for p in peers)


async def _disabled(client: httpx.AsyncClient) -> bool:
    state = (await client.get("/lab/traffic-manager")).json()
    return bool(state["endpoints"]["westeurope"]["endpoint_status"] == "Disabled")


async def main(runs: int) -> None:
    print("| vantage points | break | to Disabled (median, min–max) | SIGTERM to exit (max) |")
    print("| --- | --- | --- | --- |")
    for vantage_points in (1, 3):
        for fault in FAULTS:
            results = [await one_run(vantage_points, fault) for _ in range(runs)]
            disables = [r[0] for r in results]
            stops = [r[1] for r in results]
            print(
                f"| {vantage_points} | {fault} | {median(disables):.1f} s "
                f"({min(disables):.1f}–{max(disables):.1f}) | {max(stops):.1f} s |",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each case (default 3)")
    asyncio.run(main(parser.parse_args().runs))
