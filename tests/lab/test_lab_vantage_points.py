"""The lab's instances with several vantage points: the decider's configuration lists every
observer, each observer's its own address, port, store and token, with the decider as peer,
and the banner names them all and walks through a cut path and a broken region."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from lab.sandbox import LabSettings, Sandbox, banner, sandbox_running
from lab.vantagepoints import MAX_VANTAGE_POINTS
from monitor.config import load_config
from regionwatch import cli

OBSERVER_PORTS = (8101, 8102)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    """The lab with three vantage points, without the services (nothing listens on the
    ports its configurations name)."""
    settings = LabSettings(port=8000, interval=timedelta(seconds=1), vantage_points=3)
    async with sandbox_running(settings, tmp_path, OBSERVER_PORTS) as running:
        yield running


async def test_the_decider_pulls_every_observer_and_each_observer_the_decider(
    sandbox: Sandbox,
) -> None:
    """vp1 decides (enforce, alerts, DNS) and pulls vp2 and vp3 with their read token; each
    observer probes from its own address, listens on its own port with its own store, is
    behind the read token, pulls vp1 with the decider's token, and neither alerts, resolves
    nor decides."""
    decider = load_config(sandbox.config_path)
    assert (decider.vantage, decider.role) == ("vp1", "decider")
    assert [(p.name, p.url, p.token) for p in decider.peers] == [
        ("vp2", "http://127.0.0.1:8101", sandbox.read_token),
        ("vp3", "http://127.0.0.1:8102", sandbox.read_token),
    ]
    assert decider.failover.mode == "enforce" and decider.alerts and decider.checks.dns
    stores = {decider.storage.path}
    for index, (instance, port) in enumerate(
        zip(sandbox.instances[1:], OBSERVER_PORTS, strict=True), 2
    ):
        config = load_config(instance.config_path)
        assert (config.vantage, config.role) == (f"vp{index}", "observer")
        assert (config.api.host, config.api.port) == ("127.0.0.1", port)
        assert (config.api.read_token, config.api.token) == (sandbox.read_token, None)
        assert [(p.name, p.url, p.token) for p in config.peers] == [
            ("vp1", "http://127.0.0.1:8000", sandbox.api_token)
        ]
        assert config.alerts == [] and config.checks.dns is None
        assert config.traffic_manager == decider.traffic_manager
        assert config.regions == decider.regions
        if sys.platform == "linux":
            assert config.checks.https.source_address == f"127.0.1.{index}"
        stores.add(config.storage.path)
    assert len(stores) == 3
    assert list(sandbox.vantage_points) == (
        ["vp1", "vp2", "vp3"] if sys.platform == "linux" else []
    )


async def test_the_banner_names_every_instance_and_walks_through_several_vantage_points(
    sandbox: Sandbox,
) -> None:
    """The banner lists vp1 as decider on the lab's port and each observer on its own, the
    read token, and a walk: vp1's path to westeurope cut (inconclusive, 1 of 3), restored,
    westeurope itself broken, the audit trail, an observer's /healthz."""
    text = banner(sandbox, "http://127.0.0.1:8000")
    assert "  vp1  decider   http://127.0.0.1:8000  " in text
    assert "  vp2  observer  http://127.0.0.1:8101  " in text
    assert "  vp3  observer  http://127.0.0.1:8102  " in text
    assert f"  read token     {sandbox.read_token}  " in text
    if sys.platform != "linux":
        return
    walk = text[text.index("Several vantage points") : text.index("More to try")]
    for step in (
        "/lab/paths/vp1/westeurope/cut",
        "1 of 3 vantage points",
        "/api/v1/peers",
        "/lab/paths/vp1/westeurope/restore",
        "/lab/regions/westeurope/faults/refuse",
        "/api/v1/audit",
        "http://127.0.0.1:8101/healthz?region=westeurope",
    ):
        assert step in walk, step


async def test_one_vantage_point_is_the_lab_as_it_always_was(tmp_path: Path) -> None:
    """With the default, one instance: no vantage, no peers, no observer files, and neither
    the instances' lines nor the walk in the banner; 0 or 6 vantage points are refused, and
    the command line's bound is the lab's."""
    async with sandbox_running(LabSettings(port=8000), tmp_path) as alone:
        config = load_config(alone.config_path)
        assert (config.vantage, config.peers) == (None, [])
        assert sorted(p.name for p in tmp_path.glob("*.yaml")) == ["regionwatch.yaml"]
        text = banner(alone, "http://127.0.0.1:8000")
        assert "Several vantage points" not in text and "observer" not in text
    for count in (0, 6):
        with pytest.raises(ValueError, match="vantage_points"):
            LabSettings(vantage_points=count)
    assert cli._MAX_VANTAGE_POINTS == MAX_VANTAGE_POINTS
