"""`regionwatch doctor` as a real process: against the lab as `regionwatch lab` runs it (no
problem, exit 0), against a profile with a trap (exit 1, the finding and its fix printed), and
with a wrong configuration (exit 2). Azure's credentials never appear in what it prints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from processes import run_cli

from lab.origin import RegionalOrigin
from lab.sandbox import LabSettings, Sandbox, sandbox_running
from lab.trafficmanager import TrafficManagerEmulator
from lab.trafficmanager.seed import lab_profile_body

ConfigWriter = Callable[..., Path]


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Sandbox]:
    """The lab's origins, Traffic Manager emulator, resolvers and configuration, as
    `regionwatch lab` starts them (without the service)."""
    settings = LabSettings(port=8000, interval=timedelta(seconds=1))
    async with sandbox_running(settings, tmp_path) as running:
        yield running


async def test_the_lab_as_it_runs_finds_no_problem_and_exits_0(lab: Sandbox) -> None:
    """The lab's own configuration and profile: notices only, "no problems found", exit 0;
    the contributor's secret is never printed."""
    env = lab.identity()
    code, out, err = await run_cli("doctor", "--config", str(lab.config_path), env=env)
    assert code == 0, out + err
    assert out.rstrip().endswith("no problems found (4 notices)"), out
    assert "critical:" not in out and "warnings:" not in out
    assert env["AZURE_CLIENT_SECRET"] not in out + err


async def test_a_trap_exits_1_with_its_finding_and_fix_in_words_and_in_json(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """A TTL of 300 s: exit 1, the warning printed with its fix under "warnings:", and the
    same finding in the JSON document with its code, severity, subject, message and fix."""
    targets = {name: o.address for name, o in two_regions.items()}
    seeded.put_profile("blog", lab_profile_body(targets=targets, ttl=300))
    config = str(write_config(two_regions, traffic_manager=seeded.config_section()))
    env = seeded.environment()
    code, out, err = await run_cli("doctor", "--config", config, env=env)
    assert code == 1, out + err
    assert "warnings:\n  [dns_ttl_too_long] blog: profile blog's DNS TTL is 300 s" in out
    assert "    fix: lower the profile's TTL to at most 90 s" in out
    assert out.rstrip().endswith("1 problem found (4 notices)")
    code, out, err = await run_cli("doctor", "--config", config, "--json", env=env)
    assert code == 1, err
    document = json.loads(out)
    assert (document["problems"], document["notices"]) == (1, 4)
    first = document["findings"][0]
    assert (first["code"], first["severity"], first["subject"]) == (
        "dns_ttl_too_long",
        "warning",
        "blog",
    )
    assert first["message"] and first["fix"]
    assert env["AZURE_CLIENT_SECRET"] not in out + err


async def test_a_wrong_configuration_exits_2_naming_the_key(tmp_path: Path) -> None:
    """A configuration that does not load: exit 2, the key named, nothing checked."""
    path = tmp_path / "regionwatch.yaml"
    path.write_text("site: {hostname: blog.example.com}\nregions: {}\nbogus: 1\n")
    code, out, err = await run_cli("doctor", "--config", str(path))
    assert code == 2
    assert out == "" and "bogus: unknown key" in err
