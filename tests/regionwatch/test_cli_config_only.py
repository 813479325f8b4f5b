"""`regionwatch check --config-only`, what a Kubernetes init container runs: the configuration
loaded and validated by a real process, nothing probed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from processes import run_cli as regionwatch


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A loopback port that records every connection made to it: a region's address."""
    seen: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append("connected")
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], seen


def region_at(tmp_path: Path, port: int, extra: str = "") -> Path:
    """A configuration of one region at `port`, its api.token read from REGIONWATCH_TOKEN."""
    path = tmp_path / "regionwatch.yaml"
    path.write_text(
        "site: {hostname: blog.example.com}\n"
        f"regions: {{westeurope: {{address: 127.0.0.1, port: {port}, http_port: {port}}}}}\n"
        "api: {listen: '127.0.0.1:0', token: '${REGIONWATCH_TOKEN}'}\n" + extra,
        encoding="utf-8",
    )
    return path


async def test_config_only_exits_0_with_one_line_and_probes_nothing(
    tmp_path: Path, listener: tuple[int, list[str]]
) -> None:
    """A valid configuration: exit 0, one line on stdout saying it is valid, and no
    connection to the region's address (a plain `check` would have probed it)."""
    port, seen = listener
    path = region_at(tmp_path, port)
    code, out, err = await regionwatch(
        "check", "--config", str(path), "--config-only", env={"REGIONWATCH_TOKEN": "t0ken-x"}
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"{path}: the configuration is valid (nothing was probed)"]
    assert seen == []
    assert not (tmp_path / "regionwatch.db").exists()


async def test_config_only_exits_2_naming_the_key_of_an_unset_variable(
    tmp_path: Path, listener: tuple[int, list[str]]
) -> None:
    """A variable that is not set (a Secret not mounted): exit 2, the file and key named as
    `check` always does, nothing on stdout, nothing probed."""
    port, seen = listener
    path = region_at(tmp_path, port)
    code, out, err = await regionwatch(
        "check", "--config", str(path), "--config-only", unset=("REGIONWATCH_TOKEN",)
    )
    assert (code, out) == (2, "")
    assert f"{path}: api.token: environment variable REGIONWATCH_TOKEN is not set" in err
    assert seen == []
    assert "Traceback" not in err


async def test_config_only_exits_2_on_a_wrong_value(
    tmp_path: Path, listener: tuple[int, list[str]]
) -> None:
    """A value the rules refuse: exit 2 with the file and key, nothing probed."""
    port, seen = listener
    path = region_at(tmp_path, port, extra="failover: {mode: sometimes}\n")
    code, out, err = await regionwatch(
        "check", "--config", str(path), "--config-only", env={"REGIONWATCH_TOKEN": "x"}
    )
    assert (code, out) == (2, "")
    assert f"{path}: failover.mode: expected 'off', 'dry-run' or 'enforce'" in err
    assert seen == []


async def test_config_only_and_json_are_refused_together(tmp_path: Path) -> None:
    """`--config-only --json` is a command-line error (exit 2): validation prints no report."""
    path = region_at(tmp_path, 9)
    code, out, err = await regionwatch(
        "check", "--config", str(path), "--config-only", "--json", env={"REGIONWATCH_TOKEN": "x"}
    )
    assert (code, out) == (2, "")
    assert "not allowed with argument" in err
