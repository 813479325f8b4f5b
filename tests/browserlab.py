"""What the browser tests share: the lab they run against, a watched page, and polling with
a deadline."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page

__all__ = ["ARTIFACTS", "CHROMIUM", "LAB_REGIONS", "Lab", "Watched", "artifact", "until"]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LAB_REGIONS = ("westeurope", "centralus")


@dataclass
class Lab:
    url: str
    process: subprocess.Popen[str]


@dataclass
class Watched:
    """A page and what went wrong in it: console errors, uncaught exceptions, requests that
    tried to leave loopback."""

    page: Page
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `condition` until it holds, failing with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.1)


def artifact(name: str) -> Path:
    """Where a screenshot named `name` is kept (test-artifacts/, git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
