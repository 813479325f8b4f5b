"""The dashboard in a real browser: Debian's chromium (never a downloaded one) driven by
Playwright, against `regionwatch lab` as a real process on loopback.

One lab per module (starting one takes seconds), one browser per module, a fresh context per
test. Every page blocks requests that leave loopback, records console errors and uncaught
exceptions, and leaves a full-page screenshot in test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from browserlab import ARTIFACTS, CHROMIUM, Lab, Watched, until
from playwright.sync_api import Browser, ConsoleMessage, Playwright, Route, sync_playwright


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """`regionwatch lab --interval 1s` on a free port, both regions healthy; SIGINT at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "regionwatch", "lab", "--port", "0", "--interval", "1s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    banner = ""
    try:
        deadline = time.monotonic() + 30
        while "Stop with Ctrl-C." not in banner:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line, f"the lab exited early: {banner}"
            banner += line
        found = re.search(r"regions \(JSON\) (http://127\.0\.0\.1:\d+)/", banner)
        assert found, banner
        url = found.group(1)
        with httpx.Client(base_url=url, timeout=5) as client:

            def healthy() -> bool:
                regions = client.get("/api/v1/regions").json()["regions"]
                return all(r["status"] == "healthy" for r in regions)

            until(healthy, timeout=30, what="both lab regions healthy")
        yield Lab(url, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
        assert process.stdout is not None
        process.stdout.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """The system's chromium; scripts/install-debs.sh installs it (`make test` runs it)."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: run scripts/install-debs.sh as root (or apt-get install chromium)"
    )
    args = ["--disable-background-networking", "--disable-component-update", "--no-first-run"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # chromium refuses to run as root with its sandbox
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
    yield browser
    browser.close()


@pytest.fixture
def watched(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Watched]:
    """A fresh page at a desktop size; a screenshot of it after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = Watched(page)

    def only_loopback(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
            route.continue_()
        else:
            seen.blocked.append(route.request.url)
            route.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.errors.append(message.text)

    page.route("**/*", only_loopback)
    page.on("console", console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    try:
        yield seen
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        finally:
            context.close()
    assert not seen.blocked, f"the page tried to leave loopback: {seen.blocked}"
