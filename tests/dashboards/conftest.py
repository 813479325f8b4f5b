"""What the dashboard and the alert rules may query: the series names a running lab exports
on `/metrics`, read from a live scrape (never from the source)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from metricnames import PROMETHEUS_SERIES, series_names

ROOT = Path(__file__).resolve().parents[2]
_BASE = re.compile(r"regions \(JSON\) (http://127\.0\.0\.1:\d+)/")


def _scrape_when_populated(base: str, deadline: float) -> str:
    """/metrics once every region has a verdict and DNS has answered, within the deadline."""
    with httpx.Client(base_url=base, timeout=5) as client:
        while True:
            text = client.get("/metrics").text
            if "regionwatch_region_status{" in text and "regionwatch_dns_answer_status{" in text:
                return text
            assert time.monotonic() < deadline, f"the lab's /metrics did not fill in time:\n{text}"
            time.sleep(0.2)


@pytest.fixture(scope="session")
def lab_exposition(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`regionwatch lab` as a process (as tests/processes.py's start_lab runs it), scraped
    once its regions are judged: the exposition text."""
    workdir = tmp_path_factory.mktemp("lab")
    process = subprocess.Popen(
        [sys.executable, "-m", "regionwatch", "lab", "--port", "0", "--interval", "1s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(workdir)},
        cwd=ROOT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        banner = ""
        while "Stop with Ctrl-C." not in banner:
            line = process.stdout.readline()
            assert line, f"the lab exited early: {banner}"
            banner += line
            assert time.monotonic() < deadline, f"no banner in time: {banner}"
        found = _BASE.search(banner)
        assert found, banner
        yield _scrape_when_populated(found.group(1), deadline)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="session")
def exported(lab_exposition: str) -> frozenset[str]:
    """The series names a query may use: the lab's, and Prometheus' own `up`."""
    return frozenset(series_names(lab_exposition)) | PROMETHEUS_SERIES
