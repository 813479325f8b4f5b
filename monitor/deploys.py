"""Deploys: markers people post, releases the probes see, and the windows they open.

A deploy window is when failures of a region are most likely a bad deploy: the failover policy
acts on them after `failover.failing_rounds`, and on failures outside any window only after
the longer `failing_rounds_without_deploy`. Markers (`POST /api/v1/deploys`, `regionwatch
deploy`) are the primary signal: a release that fails at once never shows its version (Nginx
answers the old page STALE, or an error page). A new value of `deploys.version_header`, seen
on the origin path (requests that bypass the cache) and stable over most of the recent rounds,
is the fallback. A window starts `deploys.lead` before the marker, because the rollout starts
before anyone posts it. Pure functions; no I/O.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.results import CheckResult

__all__ = [
    "RELEASE_MEMORY",
    "Deploy",
    "DeploySource",
    "Window",
    "origin_release",
    "stable_release",
    "window_of",
]

# Recent rounds whose release values are remembered per region; a new value counts as a
# deploy once it is the majority of them.
RELEASE_MEMORY = 5


class DeploySource(enum.StrEnum):
    MARKER = "marker"  # posted by a person or a deploy script
    DETECTED = "detected"  # a new, stable value of the version header


@dataclass(frozen=True, slots=True)
class Deploy:
    """One deploy of one region."""

    id: str
    region: str
    version: str
    at: datetime  # when it was marked, or when the new version was first seen
    source: DeploySource
    note: str = ""
    by: str = ""


@dataclass(frozen=True, slots=True)
class Window:
    """The time a deploy makes failures count as a bad deploy's."""

    deploy: Deploy
    start: datetime
    end: datetime

    def holds(self, at: datetime) -> bool:
        return self.start <= at <= self.end


def window_of(deploy: Deploy, *, lead: timedelta, length: timedelta) -> Window:
    return Window(deploy, deploy.at - lead, deploy.at + length)


def origin_release(results: Iterable[CheckResult]) -> str | None:
    """The release a round saw on the origin path: the version header of the requests that
    bypass the cache (a cached page carries the release that was live when it was cached)."""
    for result in results:
        if result.release and result.facts.get("bypass_cache") not in (None, "off"):
            return result.release
    return None


def stable_release(recent: Sequence[str | None]) -> str | None:
    """The release most of the recent rounds saw, or None when none has a majority."""
    seen = Counter(value for value in recent if value)
    if not seen:
        return None
    value, count = seen.most_common(1)[0]
    return value if count * 2 > len(recent) else None
