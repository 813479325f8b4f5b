"""`regionwatch check` and `--help` as a user runs them: a real process against loopback origins."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from lab.origin import Fault, RegionalOrigin

ConfigWriter = Callable[..., Path]
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "contract" / "check.schema.json"


async def regionwatch(*args: str) -> tuple[int, str, str]:
    """Run the CLI in a child process while this event loop keeps serving the origins."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regionwatch",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


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
    """check --json prints one document that validates against contract/check.schema.json."""
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


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"], ["run", "--help"]])
async def test_help_explains_the_commands(args: list[str]) -> None:
    """--help names the commands, the config option and the exit codes."""
    code, out, _ = await regionwatch(*args)
    assert code == 0
    assert "--config" in out or "check" in out
    if args[0] == "check":
        assert "1 when a region is failing or unknown" in out.replace("\n", " ").replace("  ", " ")
