"""`regionwatch check` and `--help` as a user runs them: a real process against loopback origins."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from processes import run_cli as regionwatch

from lab.origin import Fault, RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator
from monitor.logs import LIBRARY_LOGGERS

ConfigWriter = Callable[..., Path]
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "contract" / "check.schema.json"


async def test_check_exits_0_when_every_region_is_healthy(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Two healthy regions: exit 0, each region and check printed."""
    code, out, _ = await regionwatch("check", "--config", str(write_config(two_regions)))
    assert code == 0, out
    assert "westeurope: healthy" in out
    assert "centralus: healthy" in out
    assert "https-redirect" in out


async def test_check_json_is_valid_against_the_contract_schema(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """check --json prints one document that validates against contract/check.schema.json;
    each region carries the failover policy's view of the round beside its verdict."""
    two_regions["westeurope"].inject(Fault.ORIGIN_DOWN)
    two_regions["centralus"].inject(Fault.EXPOSE_ADMIN)
    code, out, _ = await regionwatch("check", "--config", str(write_config(two_regions)), "--json")
    document = json.loads(out)
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    statuses = {r["name"]: r["status"] for r in document["regions"]}
    assert statuses == {"westeurope": "failing", "centralus": "degraded"}
    assert code == 1
    west = next(r for r in document["regions"] if r["name"] == "westeurope")
    cached = next(c for c in west["checks"] if c["check"] == "home-cached")
    assert cached["outcome"] == "down"
    assert cached["reason"] == (
        "X-Cache-Status STALE: Nginx is serving a stale copy, the origin behind it is failing"
    )
    policies = {r["name"]: r["policy"] for r in document["regions"]}
    assert policies["westeurope"]["state"] == "counting"
    assert policies["westeurope"]["next"] == "disable after 11 more failing rounds"
    assert policies["centralus"]["state"] == "serving"


async def test_check_exits_0_for_a_degraded_region(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """An alert-level finding (exposed /ghost) degrades the region but still exits 0."""
    two_regions["centralus"].inject(Fault.EXPOSE_ADMIN)
    code, out, _ = await regionwatch("check", "--config", str(write_config(two_regions)))
    assert code == 0, out
    assert "centralus: degraded" in out
    assert "status 200, expected 404 [alert]" in out


async def test_check_exits_1_when_a_region_is_failing(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A refusing region is failing, and check says so with exit 1."""
    two_regions["centralus"].inject(Fault.REFUSE)
    code, out, _ = await regionwatch("check", "--config", str(write_config(two_regions)))
    assert code == 1
    assert "centralus: failing" in out
    assert "connection refused [failover]" in out


async def test_check_exits_2_on_a_broken_configuration(tmp_path: Path) -> None:
    """A wrong configuration: exit 2, the file and the key named, nothing probed."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        "site: {hostname: blog.example.com}\nregions: {westeurope: {adress: 127.0.0.2}}\n"
    )
    code, out, err = await regionwatch("check", "--config", str(path))
    assert code == 2
    assert out == ""
    assert f"{path}: regions.westeurope.adress: unknown key" in err
    assert f"{path}: regions.westeurope.address: required key is missing" in err


@pytest.mark.parametrize(
    "args", [["--help"], ["check", "--help"], ["run", "--help"], ["lab", "--help"]]
)
async def test_help_explains_the_commands(args: list[str]) -> None:
    """--help names the commands, the config option and the exit codes; every command that
    logs (run, check, lab) takes --log-format, --log-level and --log-libraries."""
    code, out, _ = await regionwatch(*args)
    assert code == 0
    assert "--config" in out or "check" in out or "--port" in out
    if args[0] == "check":
        assert "1 when a region is failing or unknown" in out.replace("\n", " ").replace("  ", " ")
    if args[0] != "--help":
        for flag in ("--log-format", "--log-level", "--log-libraries"):
            assert flag in out, (args, flag)


async def test_help_sends_a_newcomer_to_the_lab_not_to_the_example() -> None:
    """The first step --help suggests is the loopback lab, never checking the example's
    addresses."""
    code, out, _ = await regionwatch("--help")
    text = " ".join(out.split())
    assert code == 0
    assert "make demo" in text and "regionwatch lab" in text
    assert "check --config examples" not in text


async def test_bare_regionwatch_prints_help_and_exits_0() -> None:
    """No command is a question, not a configuration error: the help, and exit 0."""
    code, out, err = await regionwatch()
    assert code == 0, err
    assert out.startswith("usage: regionwatch")
    assert "lab" in out and "check" in out and "run" in out


async def test_version_is_the_installed_packages() -> None:
    """--version prints the version of the installed package and exits 0."""
    code, out, _ = await regionwatch("--version")
    assert code == 0
    assert out.strip() == f"regionwatch {version('regionwatch')}"


def log_events(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines of a child process (stderr is not a terminal, so logs are JSON)."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


async def test_check_json_carries_an_unreadable_traffic_manager_and_stays_json(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tm: TrafficManagerEmulator,
) -> None:
    """When ARM refuses the read, stdout is still one valid JSON document, which carries the
    error; the warning is logged to stderr."""
    tm.faults.add(path_contains="trafficmanagerprofiles", status=403, count=None)
    path = write_config(two_regions, traffic_manager=tm.config_section())
    code, out, err = await regionwatch(
        "check", "--config", str(path), "--json", env=tm.environment()
    )
    document = json.loads(out)
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document["traffic_manager"]["error"], document["traffic_manager"]
    assert "403" in document["traffic_manager"]["error"]
    assert document["traffic_manager"]["read_at"]
    assert all(r["traffic_manager"] is None for r in document["regions"])
    assert code == 0
    assert [e["event"] for e in log_events(err) if e["event"] == "traffic_manager_read_failed"] == [
        "traffic_manager_read_failed"
    ]


async def test_log_level_and_log_libraries_are_set_apart(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tm: TrafficManagerEmulator,
) -> None:
    """--log-libraries info brings back the Azure SDK's request log while --log-level error
    hides our own warning; stdout stays the document alone."""
    tm.faults.add(path_contains="trafficmanagerprofiles", status=403, count=None)
    path = write_config(two_regions, traffic_manager=tm.config_section())
    _, out, err = await regionwatch(
        "check",
        "--config",
        str(path),
        "--json",
        "--log-level",
        "error",
        "--log-libraries",
        "info",
        env=tm.environment(),
    )
    json.loads(out)
    events = log_events(err)
    loggers = {e["logger"] for e in events}
    assert "azure.core.pipeline.policies.http_logging_policy" in loggers, loggers
    assert not [e for e in events if e["event"] == "traffic_manager_read_failed"]


async def test_run_logs_its_own_events_and_not_every_library_request(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tm: TrafficManagerEmulator,
) -> None:
    """By default `run` logs its own events (its start, and each state change as one
    `event_recorded` line at the event's severity) and none of the per-request info the Azure
    SDK, httpx or uvicorn log."""
    path = write_config(two_regions, traffic_manager=tm.config_section())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regionwatch",
        "run",
        "--config",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **tm.environment()},
    )
    assert process.stderr is not None and process.stdout is not None
    lines: list[str] = []
    try:
        # The seeded profile's targets are not the origins' addresses: the drift event is
        # logged once the first read (and so the SDK's requests) is done.
        async with asyncio.timeout(30):
            while not any("config.drift" in line for line in lines):
                line = await process.stderr.readline()
                assert line, "".join(lines)
                lines.append(line.decode())
    finally:
        process.terminate()
        rest, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    lines += rest.decode().splitlines(keepends=True)
    events = log_events("".join(lines))
    assert tm.requests_log, "the service never read Traffic Manager"
    # The libraries' warnings still come through; their chatter at info and below does not.
    chatter = [
        e
        for e in events
        if e["logger"].startswith(LIBRARY_LOGGERS) and e["level"] in ("debug", "info")
    ]
    assert chatter == []
    assert [e["level"] for e in events if e["event"] == "service_started"] == ["info"]
    drift = [e for e in events if e["event"] == "event_recorded" and e["type"] == "config.drift"]
    assert drift and {e["region"] for e in drift} <= set(two_regions)
    assert {e["level"] for e in drift} == {"warning"}
    # Healthy regions are not news: their first verdicts make no event.
    assert not [e for e in events if e.get("type", "").startswith("region.")]


async def test_the_labs_interval_is_at_least_one_second() -> None:
    """`lab --interval 500ms` is a command-line error (exit 2) naming the shortest interval,
    before anything starts."""
    code, _, err = await regionwatch("lab", "--port", "0", "--interval", "500ms")
    assert code == 2
    assert "expected at least 1s" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("count", ["0", "6", "three"])
async def test_the_labs_vantage_points_are_one_to_five(count: str) -> None:
    """`lab --vantage-points` outside 1..5 is a command-line error (exit 2) naming the range,
    before anything starts; `lab --help` documents the flag and its default."""
    code, _, err = await regionwatch("lab", "--port", "0", "--vantage-points", count)
    assert code == 2
    assert "expected a number from 1 to 5" in err
    assert "Traceback" not in err
    code, out, _ = await regionwatch("lab", "--help")
    assert code == 0 and "--vantage-points N" in out and "default 1" in out
