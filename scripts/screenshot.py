"""Take the README's screenshot of the dashboard from the lab: docs/dashboard.png.

Runs `regionwatch lab` on a free loopback port, breaks westeurope after a release through the
fault panel (so the picture shows a failing region, Traffic Manager's view and a DNS failover),
waits until regionwatch has taken it out of Traffic Manager, and photographs the page in
Debian's chromium (/usr/bin/chromium; scripts/install-debs.sh installs it). Usage:

    .venv/bin/python scripts/screenshot.py [--output docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("docs/dashboard.png"))
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: run scripts/install-debs.sh as root", file=sys.stderr)
        return 1
    lab = subprocess.Popen(
        [sys.executable, "-m", "regionwatch", "lab", "--port", "0", "--interval", "1s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert lab.stdout is not None
        banner = ""
        while "Stop with Ctrl-C." not in banner:
            line = lab.stdout.readline()
            if not line:
                print(f"the lab exited early:\n{banner}", file=sys.stderr)
                return 1
            banner += line
        found = re.search(r"regions \(JSON\) (http://127\.0\.0\.1:\d+)/", banner)
        assert found, banner
        url = found.group(1)
        with httpx.Client(base_url=url, timeout=5) as client:
            _until(lambda: _statuses(client) == {"healthy"}, "both regions healthy")
            client.post("/lab/regions/westeurope/deploy", json={"version": "2.0.0"})
            client.post("/lab/regions/westeurope/faults/error", json={"status": 500})
            _until(lambda: _disabled(client), "westeurope out of Traffic Manager")
        _photograph(url, args.output)
        print(f"wrote {args.output}")
        return 0
    finally:
        lab.send_signal(signal.SIGINT)
        lab.wait(timeout=20)


def _statuses(client: httpx.Client) -> set[str]:
    return {r["status"] for r in client.get("/api/v1/regions").json()["regions"]}


def _disabled(client: httpx.Client) -> bool:
    events = client.get("/api/v1/events", params={"type": "endpoint.disabled"}).json()["events"]
    failover = client.get("/api/v1/dns").json()["dns"]
    return bool(events) and any(a["status"] == "failover" for a in failover)


def _until(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:g} s: {what}")
        time.sleep(0.2)


def _photograph(url: str, output: Path) -> None:
    args = ["--disable-background-networking", "--disable-component-update", "--no-first-run"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url + "/")
        page.wait_for_selector('article[data-region="westeurope"][data-status="failing"]')
        output.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(output), full_page=False)
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
