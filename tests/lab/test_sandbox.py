"""The lab as a newcomer meets it: its banner, enough to write a configuration of one's own,
and a fault panel that documents every fault and parameter it accepts."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from lab.control import control_router
from lab.faults import Fault, FaultBoard, Target, fault_catalogue, show_param
from lab.loopback import vantage_address
from lab.resolvers import LabResolver
from lab.sandbox import LAB_ALERT_CHANNELS, LabSettings, Sandbox, banner, sandbox_running
from monitor.config import AlertingConfig, load_config
from regionwatch import cli


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    """The lab's origins, Traffic Manager emulator and resolvers, without the service."""
    # The port the banners below are printed for: the configuration's alert channels and
    # public URL name it (the sandbox itself binds nothing there).
    settings = LabSettings(port=8000, interval=timedelta(seconds=1))
    async with sandbox_running(settings, tmp_path) as running:
        yield running


def found(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"the banner has no {pattern!r}:\n{text}"
    return match


def config_from(text: str, workdir: Path) -> Path:
    """A configuration written from the banner alone, as a newcomer would."""
    regions = {
        m.group(1): {"address": m.group(2), "port": int(m.group(3)), "http_port": int(m.group(4))}
        for m in re.finditer(r"^  (\w+) +https://([\d.]+):(\d+)  \(http (\d+)\)$", text, re.M)
    }
    ca = found(r"^  lab CA +(\S+)", text).group(1)
    dot = found(r"^  resolver eu +\S+ \(udp, tcp\), DoT ([\d.]+):(\d+) \(TLS name (\S+)\)", text)
    tm_url = found(r"^  traffic mgr +(https://\S+)", text).group(1)
    where = found(r"subscription (\S+), resource group (\S+), profile (\S+)$", text)
    tm_ca = found(r"^ +CA (/\S+)$", text).group(1)
    config: dict[str, Any] = {
        "site": {"hostname": "blog.example.com"},
        "regions": regions,
        "tls": {"ca_file": ca},
        "checks": {
            "https": {"interval": "5s", "timeout": "5s"},
            "dns": {
                "timeout": "5s",
                "resolvers": [
                    {
                        "name": "mine",
                        "protocol": "dot",
                        "address": dot.group(1),
                        "port": int(dot.group(2)),
                        "tls_hostname": dot.group(3),
                    }
                ],
            },
        },
        "traffic_manager": {
            "subscription_id": where.group(1),
            "resource_group": where.group(2),
            "profile": where.group(3),
            "resource_manager_url": tm_url,
            "authority_host": tm_url,
            "ca_file": tm_ca,
        },
    }
    path = workdir / "mine.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


async def test_the_banner_holds_all_a_newcomer_needs_to_write_a_configuration(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """From the banner alone (addresses, the lab CA, the DoT port and TLS name, the emulator's
    subscription, CA and credentials as export lines), a configuration of one's own checks the
    lab: regions healthy, Traffic Manager read, the DoT resolver answering."""
    text = banner(sandbox, "http://127.0.0.1:8000")
    assert f"configuration  {sandbox.config_path}" in text
    path = config_from(text, tmp_path_factory.mktemp("newcomer"))
    exports = re.findall(r"^  export (\w+)=(\S+)$", text, re.MULTILINE)
    exported = dict(exports)
    assert len(exports) == len(exported), "each variable exported once"
    assert {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"} <= set(exported)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regionwatch",
        "check",
        "--config",
        str(path),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **exported},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    document = json.loads(out)
    assert document["traffic_manager"]["error"] is None, err.decode()
    assert {r["name"]: r["status"] for r in document["regions"]} == {
        "westeurope": "healthy",
        "centralus": "healthy",
    }
    assert all(r["traffic_manager"] is not None for r in document["regions"])
    assert {a["status"] for a in document["dns"]} == {"ok"}, document["dns"]


async def test_the_labs_own_configuration_loads_from_a_copy_elsewhere(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The configuration the lab writes names its CA files by absolute path, so a copy in
    another folder loads; it says where the credentials come from and holds no secret."""
    text = sandbox.config_path.read_text(encoding="utf-8")
    copy = tmp_path_factory.mktemp("elsewhere") / "regionwatch.yaml"
    copy.write_text(text, encoding="utf-8")
    config = load_config(copy)
    assert config.tls.ca_file == sandbox.ca_path
    comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "AZURE_CLIENT_SECRET" in comments
    assert sandbox.identity()["AZURE_CLIENT_SECRET"] not in text


async def test_the_labs_configuration_fails_over_in_enforce_mode_at_a_pace_one_can_watch(
    sandbox: Sandbox,
) -> None:
    """The lab writes its emulator's endpoints (enforce): three failing rounds in a deploy
    window, three healthy ones to come back, a minute's cooldown; its API takes deploy markers
    with a token made for this run, which the banner prints beside the `regionwatch deploy`
    line."""
    config = load_config(sandbox.config_path)
    failover = config.failover
    assert failover.mode == "enforce"
    assert (failover.failing_rounds, failover.healthy_rounds) == (3, 3)
    assert failover.cooldown == timedelta(minutes=1)
    assert config.api.token == sandbox.api_token and len(sandbox.api_token) >= 24
    text = banner(sandbox, "http://127.0.0.1:8000")
    assert f"  api token      {sandbox.api_token}  " in text
    assert (
        f"REGIONWATCH_TOKEN={sandbox.api_token} .venv/bin/regionwatch deploy --region westeurope "
        "--version 2.0.0 --url http://127.0.0.1:8000"
    ) in text
    story = text[text.index("Try this") : text.index("More to try")]
    for step in (
        "/deploy",
        "/faults/error",
        "/api/v1/events",
        "/api/v1/traffic-manager",
        "/api/v1/dns",
        "/api/v1/actions",
        "/heal",
    ):
        assert step in story, step


async def test_the_labs_probes_leave_from_its_vantage_points_address(sandbox: Sandbox) -> None:
    """The lab's instance probes from 127.0.1.1, its own path to the regions (where the
    system has the 127.0.0.0/8 loopback; elsewhere from the system's choice)."""
    config = load_config(sandbox.config_path)
    assert config.checks.https.source_address == vantage_address(0)
    if sys.platform == "linux":
        assert config.checks.https.source_address == "127.0.1.1"


async def test_the_labs_alerts_go_to_its_own_receivers_with_a_short_group_window(
    sandbox: Sandbox,
) -> None:
    """The lab's configuration has one channel per receiver, each pointing at its path under
    /lab/alerts on the lab's port (the webhook signed with this run's key, which its receiver
    checks), a group window of two rounds and every other alerting key at its default, and
    alerts linking to the lab; the banner says where to watch them and how to take a receiver
    down and bring it back."""
    config = load_config(sandbox.config_path)
    base = "http://127.0.0.1:8000"
    assert [(c.name, c.type) for c in config.alerts] == list(LAB_ALERT_CHANNELS.items())
    for channel in config.alerts:
        receiver = sandbox.alerts.by_name[channel.name]
        assert channel.target == base + receiver.path
        assert receiver.path.startswith(f"/lab/alerts/{channel.name}/")
    (signed,) = [c for c in config.alerts if c.type == "webhook"]
    assert signed.secret == sandbox.webhook_secret == sandbox.alerts.by_name["webhook"].secret
    assert len(sandbox.webhook_secret) >= 24
    assert config.alerting == AlertingConfig(group_window=timedelta(seconds=2))
    assert config.api.public_url == base
    text = banner(sandbox, base)
    assert f"  alerts         {base}/lab/alerts  " in text
    walk = text[text.index("Watch the alerts") : text.index("Take the controls")]
    assert f"curl -s {base}/lab/alerts " in walk
    assert f"curl -s -X POST {base}/lab/alerts/webhook/down\n" in walk
    assert f"curl -s -X POST {base}/lab/alerts/webhook/up\n" in walk
    assert sandbox.webhook_secret not in text


async def test_the_banners_controls_walk_shows_every_command_as_the_cli_takes_it(
    sandbox: Sandbox,
) -> None:
    """The banner walks a person through pin, unpin, silence, pause, resume, a forced
    disable, adopt, the audit trail and a replay of the lab's own configuration; every
    `regionwatch` command it shows is one `regionwatch --help` lists (a `region` action one
    `regionwatch region --help` lists), and each line parses as the command line takes it."""
    base = "http://127.0.0.1:8000"
    text = banner(sandbox, base)
    walk = text[text.index("Take the controls") : text.index("More to try")]
    assert f"  export REGIONWATCH_TOKEN={sandbox.api_token}\n" in walk
    assert f"curl -s {base}/api/v1/audit " in walk
    shown = [
        shlex.split(line)[1:]
        for line in walk.splitlines()
        if line.startswith("  .venv/bin/regionwatch ")
    ]
    assert [argv[0] if argv[0] != "region" else f"region {argv[1]}" for argv in shown] == [
        "region pin",
        "region unpin",
        "silence",
        "pause",
        "resume",
        "region disable",
        "adopt",
        "replay",
    ]
    assert shown[-1] == ["replay", "--config", str(sandbox.config_path), "--since", "1h"]
    assert "--force" in shown[5]
    commands = _listed(await _help())
    regions = _listed(await _help("region"))
    for argv in shown:
        assert argv[0] in commands, (argv, commands)
        if argv[0] == "region":
            assert argv[1] in regions, (argv, regions)
        else:
            assert "--url" in argv or argv[0] == "replay", argv
        cli._parser().parse_args(argv)  # exits (SystemExit) on an option it does not take


async def _help(*command: str) -> str:
    """`regionwatch [COMMAND] --help`, as a person runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regionwatch",
        *command,
        "--help",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


def _listed(help_text: str) -> set[str]:
    """The commands (or actions) a `--help` lists, one a line under its metavar."""
    listed = set(re.findall(r"^    ([a-z][\w-]*) ", help_text, re.MULTILINE))
    assert listed, help_text
    return listed


def _descriptions() -> dict[str, str]:
    resolver = LabResolver("eu", subnet="81.2.69.0/24", upstream=("127.0.0.1", 53))
    app = FastAPI()
    app.include_router(control_router({}, None, {"eu": resolver}))
    paths = app.openapi()["paths"]
    return {
        "region": paths["/lab/regions/{name}/faults/{fault}"]["post"]["description"],
        "resolver": paths["/lab/resolvers/{name}/faults/{fault}"]["post"]["description"],
    }


def test_the_fault_panel_documents_every_fault_and_parameter() -> None:
    """The inject routes' OpenAPI descriptions name every fault, each parameter and its
    default."""
    described = _descriptions()
    for what, catalogue in (
        ("region", fault_catalogue()),
        ("resolver", fault_catalogue(Target.RESOLVER)),
    ):
        for fault, (_, params) in catalogue.items():
            assert f"`{fault}`" in described[what], (what, fault)
            for name, (_, default) in params.items():
                assert f"`{name}`" in described[what], (what, fault, name)
                assert f"(default `{default}`)" in described[what], (what, fault, name)


def test_the_documented_defaults_are_the_ones_applied() -> None:
    """Each fault injected without parameters takes exactly the defaults the panel documents."""
    for target in (Target.ORIGIN, Target.RESOLVER):
        for fault, (_, params) in fault_catalogue(target).items():
            board = FaultBoard(target)
            board.inject(fault, {})
            applied = board.snapshot()[fault]
            if "count" in params:  # shown only once set: the default heals only when healed
                applied.setdefault("count", None)
            assert {k: show_param(target, Fault(fault), k, v) for k, v in applied.items()} == {
                k: default for k, (_, default) in params.items()
            }, fault
