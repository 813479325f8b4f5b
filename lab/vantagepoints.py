"""The lab's instances when it runs several vantage points: vp1 the decider, vp2..vpN observers.

Each instance is its own service with its own configuration file, store and port, probing the
same lab regions from its own source address (`lab.loopback.vantage_address`), so the fault
panel can cut one vantage point's path to one region. The decider lists every observer as a
peer; each observer lists the decider, whose `/healthz` answers it repeats. Observers read the
emulated Traffic Manager and never write it (an observer has no actuator), send no alerts and
resolve no DNS: the decider does both, and the quorum is about the HTTPS probes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from monitor.durations import format_duration

__all__ = [
    "DECIDER",
    "MAX_VANTAGE_POINTS",
    "LabInstance",
    "decider_topology",
    "observer_config",
    "peer_timeout",
    "vantage_name",
]

# Enough to show a majority beside a minority, few enough for a laptop's two cores.
MAX_VANTAGE_POINTS = 5
DECIDER = "vp1"


def vantage_name(index: int) -> str:
    """`vp1` for index 0, `vp2` for index 1, ..."""
    return f"vp{index + 1}"


@dataclass(frozen=True, slots=True)
class LabInstance:
    """One service of the lab: its vantage point, role, where it listens, where its
    configuration is, and the address its probes leave from (None where the loopback has
    only 127.0.0.1)."""

    vantage: str
    role: Literal["decider", "observer"]
    host: str
    port: int
    config_path: Path
    source_address: str | None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def peer_timeout(interval: timedelta) -> timedelta:
    """A pull may take as long as a probe: within one round, and never more than 3 s."""
    return min(interval, timedelta(seconds=3))


def decider_topology(
    observers: list[LabInstance], *, read_token: str, interval: timedelta
) -> dict[str, Any]:
    """The decider's `vantage` and `peers`: every observer, pulled with the observers' read
    token."""
    timeout = format_duration(peer_timeout(interval))
    return {
        "vantage": DECIDER,
        "peers": [
            {"name": o.vantage, "url": o.url, "token": read_token, "timeout": timeout}
            for o in observers
        ],
    }


def observer_config(
    decider: dict[str, Any],
    observer: LabInstance,
    *,
    decider_url: str,
    decider_token: str,
    read_token: str,
    interval: timedelta,
) -> dict[str, Any]:
    """An observer's configuration, made from the decider's (`decider`, as written): the same
    site, regions, CA, requests and Traffic Manager profile, from its own address, on its own
    port and store, behind `read_token`, with the decider as its one peer (pulled with the
    decider's `api.token`, which its observations accept: the lab's decider leaves its reads
    open, as the lab with one vantage point does)."""
    config = {
        key: copy.deepcopy(value)
        for key, value in decider.items()
        # The decider alerts, resolves, decides and writes; an observer does none of it.
        if key not in ("alerts", "alerting", "failover", "deploys", "peers", "vantage")
    }
    https = config["checks"]["https"]
    https.pop("source_address", None)
    if observer.source_address is not None:
        https["source_address"] = observer.source_address
    config["checks"] = {"https": https}
    config["vantage"] = observer.vantage
    config["role"] = "observer"
    config["peers"] = [
        {
            "name": DECIDER,
            "url": decider_url,
            "token": decider_token,
            "timeout": format_duration(peer_timeout(interval)),
        }
    ]
    config["api"] = {"listen": f"{observer.host}:{observer.port}", "read_token": read_token}
    config["storage"] = {"path": f"regionwatch-{observer.vantage}.db", "retention": "1d"}
    return config
