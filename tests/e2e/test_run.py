"""`regionwatch run` as a real process: listening, stopping on a signal, and failing clearly."""

from __future__ import annotations

import asyncio
import resource
import secrets
import signal
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from processes import (
    answers,
    free_port,
    regionwatch,
    stopped_by,
)
from servers import eventually

from lab.origin import RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator

ConfigWriter = Callable[..., Path]
# Started with this open-file limit (soft and hard), the process cannot raise it.
LOW_FILE_LIMIT = 256


def store_closed_cleanly(db: Path) -> bool:
    """A clean close checkpoints the WAL into the database and removes it (looked at before
    opening it here: opening it again makes a new WAL)."""
    wal_left = Path(f"{db}-wal").exists()
    with sqlite3.connect(db) as conn:
        ok = conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rounds = conn.execute("SELECT count(*) FROM verdicts").fetchone()[0]
    return ok and rounds > 0 and not wal_left


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_run_with_exit_0_within_10s_while_traffic_manager_hangs(
    sig: signal.Signals,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tm: TrafficManagerEmulator,
    tmp_path: Path,
) -> None:
    """SIGTERM or SIGINT while a Traffic Manager read never answers: exit 0 within 10 s, the
    store closed cleanly (no WAL left, integrity check passing)."""
    port = free_port()
    config = write_config(
        two_regions,
        api={"listen": f"127.0.0.1:{port}"},
        traffic_manager=tm.config_section(),
    )
    hang = tm.faults.add(
        method="GET",
        path_contains="trafficmanagerprofiles/blog",
        status=None,
        delay=600,
        count=None,
    )
    async with regionwatch(tmp_path, "run", "--config", str(config), env=tm.environment()) as run:
        await eventually(lambda: answers(f"http://127.0.0.1:{port}/readyz"), timeout=30)
        await eventually(lambda: hang.hits >= 1, timeout=30)  # a read is in flight, unanswered
        code, took = await stopped_by(run, sig)
    assert code == 0, run.stderr[-3000:]
    assert took < 10, f"took {took:.1f}s to stop"
    assert store_closed_cleanly(tmp_path / "regionwatch.db")


@pytest.mark.slow
async def test_a_busy_port_exits_4_with_one_line_before_any_round(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter, tmp_path: Path
) -> None:
    """The API's port is taken: exit 4, one line naming the address and what to do, no
    traceback, and no round run (no store created, no probe reached an origin)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = write_config(two_regions, api={"listen": f"127.0.0.1:{port}"})
        served = {name: o.requests_served for name, o in two_regions.items()}
        async with regionwatch(tmp_path, "run", "--config", str(config)) as run:
            code = await run.wait(timeout=30)
    lines = run.stderr.strip().splitlines()
    assert code == 4, run.stderr
    assert len(lines) == 1, run.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "already in use" in lines[0] and "--port" in lines[0]
    assert not (tmp_path / "regionwatch.db").exists()
    assert {name: o.requests_served for name, o in two_regions.items()} == served


@pytest.mark.slow
async def test_an_unusable_store_exits_3_with_one_line_naming_the_file(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter, tmp_path: Path
) -> None:
    """storage.path holding random bytes: exit 3 and one line naming the file, no traceback."""
    db = tmp_path / "garbage.db"
    db.write_bytes(secrets.token_bytes(8192))
    config = write_config(
        two_regions, api={"listen": f"127.0.0.1:{free_port()}"}, storage={"path": str(db)}
    )
    async with regionwatch(tmp_path, "run", "--config", str(config)) as run:
        code = await run.wait(timeout=30)
    errors = [line for line in run.stderr.splitlines() if str(db) in line]
    assert code == 3, run.stderr
    assert "Traceback" not in run.stderr
    assert len(errors) == 1, run.stderr


@pytest.mark.slow
async def test_host_and_port_options_override_api_listen(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter, tmp_path: Path
) -> None:
    """`run --host H --port N` listens on H:N, not on the configuration's api.listen."""
    configured, chosen = free_port(), free_port()
    config = write_config(two_regions, api={"listen": f"127.0.0.2:{configured}"})
    async with regionwatch(
        tmp_path, "run", "--config", str(config), "--host", "127.0.0.1", "--port", str(chosen)
    ) as run:
        await eventually(lambda: answers(f"http://127.0.0.1:{chosen}/livez"), timeout=30)
        assert not await answers(f"http://127.0.0.2:{configured}/livez")
        code, _ = await stopped_by(run, signal.SIGTERM)
    assert code == 0, run.stderr[-3000:]


# The slow-client attack: more half-sent requests than the process has descriptors.
ATTACKERS = 300
ATTACK_SECONDS = 3.0
HALF_A_HEAD = b"GET /healthz HTTP/1.1\r\nHost: regionwatch\r\nUser-Agent: slow"


@pytest.mark.slow
async def test_healthz_answers_and_regions_are_probed_through_a_half_sent_request_flood(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter, tmp_path: Path
) -> None:
    """A process limited to 256 descriptors, held by 300 connections that each send half a
    request head and idle (reopened when closed): /healthz answers 200 every time, the
    regions keep being probed (never unknown), and failed accepts are not logged per attempt."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * ATTACKERS:  # this test's own side of the connections
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * ATTACKERS), hard))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(two_regions, api={"listen": f"127.0.0.1:{port}"})
    async with regionwatch(
        tmp_path, "run", "--config", str(config), file_limit=LOW_FILE_LIMIT
    ) as run:
        await eventually(lambda: answers(f"{base}/readyz"), timeout=30)
        async with httpx.AsyncClient(base_url=base, timeout=5) as api:
            before = await last_rounds(api)
        attackers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        probes: list[float] = []
        try:
            deadline = time.monotonic() + ATTACK_SECONDS
            while time.monotonic() < deadline:
                await top_up(attackers, port)
                started = time.monotonic()
                # A fresh connection each time, as Traffic Manager's probe makes.
                async with httpx.AsyncClient(timeout=3) as probe:
                    answer = await probe.get(f"{base}/healthz")
                assert answer.status_code == 200, answer.text
                probes.append(time.monotonic() - started)
            async with httpx.AsyncClient(base_url=base, timeout=5) as api:
                after = await last_rounds(api)
                statuses = {
                    r["name"]: r["status"]
                    for r in (await api.get("/api/v1/regions")).json()["regions"]
                }
        finally:
            for _, writer in attackers:
                writer.close()
        code, _ = await stopped_by(run, signal.SIGTERM)
    log = run.stderr
    assert len(probes) >= 10
    assert set(statuses) == {"westeurope", "centralus"}
    assert "unknown" not in statuses.values(), log[-3000:]
    assert all(after[region] > before[region] for region in before), (before, after)
    assert log.count("out of system resource") == 0, log[-3000:]
    assert log.count("Too many open files") == 0, log[-3000:]
    assert log.count("connection_cap_reached") == 1, log[-3000:]
    assert code == 0


async def last_rounds(api: httpx.AsyncClient) -> dict[str, str]:
    regions = (await api.get("/api/v1/regions")).json()["regions"]
    return {r["name"]: r["decided_at"] for r in regions}


async def top_up(
    attackers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], port: int
) -> None:
    """Reopen the attackers the server closed, until ATTACKERS are open again."""
    for reader, writer in [a for a in attackers if a[0].at_eof() or a[1].is_closing()]:
        writer.close()
        attackers.remove((reader, writer))

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HALF_A_HEAD)
        attackers.append((reader, writer))

    await asyncio.gather(*(one() for _ in range(ATTACKERS - len(attackers))))


def catches(pid: int, sig: signal.Signals) -> bool:
    """Whether process `pid` has a handler for `sig` installed (its SigCgt mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "lab"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stop_asked_for_while_starting_is_a_clean_exit_0(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tmp_path: Path,
    command: str,
    sig: signal.Signals,
) -> None:
    """A signal that arrives as soon as the process can take one (while it is still importing
    and starting, before any round or store): exit 0 and no traceback, for `run` and for
    `lab`, nothing left behind."""
    if command == "run":
        config = write_config(
            two_regions,
            api={"listen": f"127.0.0.1:{free_port()}"},
            storage={"path": str(tmp_path / "started.db")},
        )
        args = ["run", "--config", str(config)]
    else:
        args = ["lab", "--port", "0"]
    env = {"TMPDIR": str(tmp_path)}
    async with regionwatch(tmp_path, *args, env=env) as run:
        await eventually(
            lambda: catches(run.process.pid, signal.SIGTERM), timeout=10, interval=0.001
        )
        code, took = await stopped_by(run, sig)
    assert code == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert took < 10
    assert not list(tmp_path.glob("regionwatch-lab-*"))
    assert not (tmp_path / "started.db").exists()  # stopped before the service began
