"""`regionwatch run` in enforce mode killed with SIGKILL in the middle of failing over, and
started again on the same store: the failing streak continues from the store, an intent
recorded before the crash is carried out once (never twice), and a second decider on the same
store refuses to start.

The processes are real (`python -m regionwatch run`), against the lab's origins and the Traffic
Manager emulator through the real Azure SDK, at a 1 s interval. No deploy marker is posted:
the disable comes after `failover.failing_rounds_without_deploy: 3` failing rounds, the bar
outside a deploy window. `failover.streak_gap` is 30 s so that a restart, which takes a few
seconds on a loaded machine, falls well within it.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import Run, answers, free_port, regionwatch, stopped_by
from servers import eventually

from lab.origin import Fault, RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator
from lab.trafficmanager.faults import FaultRule

ConfigWriter = Callable[..., Path]
FAILOVER = {
    "mode": "enforce",
    "failing_rounds": 3,
    "failing_rounds_without_deploy": 3,
    "streak_gap": "30s",
}


class Decider:
    """Starts `regionwatch run` on one configuration and store, again and again."""

    def __init__(self, tmp_path: Path, config: Path, tm: TrafficManagerEmulator) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.tm = tm
        self.db = tmp_path / "regionwatch.db"

    def start(self, *args: str) -> AbstractAsyncContextManager[Run]:
        return regionwatch(
            self.tmp_path, "run", "--config", str(self.config), *args, env=self.tm.environment()
        )


@pytest.fixture
def decider(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tmp_path: Path,
) -> tuple[Decider, str]:
    """A configuration in enforce mode, and the base URL its API listens on."""
    port = free_port()
    config = write_config(
        two_regions,
        api={"listen": f"127.0.0.1:{port}"},
        traffic_manager=seeded.config_section(),
        failover=FAILOVER,
    )
    return Decider(tmp_path, config, seeded), f"http://127.0.0.1:{port}"


async def streak(base: str, region: str) -> tuple[str, int] | None:
    """The region's current streak from `/api/v1/regions`: its status and rounds."""
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            answer = await client.get(f"{base}/api/v1/regions")
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None  # still starting
    regions = answer.json()["regions"]
    view = next(r for r in regions if r["name"] == region)["streak"]
    return (view["status"], view["rounds"]) if view else None


async def _is(value: Any, expected: object) -> bool:
    """Whether awaiting `value` gives `expected` (for `eventually`)."""
    return bool(await value == expected)


def read_store(db: Path, query: str, *args: object) -> list[tuple[Any, ...]]:
    """Rows from the store, read beside (or after) the process that writes it."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return list(conn.execute(query, args))


def actions(db: Path) -> list[dict[str, Any]]:
    rows = read_store(
        db,
        "SELECT action, status, attempts, detail, evidence, decided_at FROM actions ORDER BY seq",
    )
    return [
        {
            "action": action,
            "status": status,
            "attempts": attempts,
            "detail": detail,
            "evidence": json.loads(evidence),
            "decided_at": decided_at,
        }
        for action, status, attempts, detail, evidence, decided_at in rows
    ]


def failing_rounds(db: Path, region: str) -> list[float]:
    """When each of the region's failing rounds was decided, oldest first."""
    rows = read_store(
        db,
        "SELECT decided_at FROM verdicts WHERE region = ? AND status = 'failing' "
        "ORDER BY decided_at",
        region,
    )
    return [at for (at,) in rows]


def disabled_events(db: Path) -> int:
    rows = read_store(db, "SELECT count(*) FROM events WHERE type = 'endpoint.disabled'")
    return int(rows[0][0])


def endpoint_status(tm: TrafficManagerEmulator, name: str = "westeurope") -> str:
    endpoint = tm.profile().endpoint(name)
    assert endpoint is not None
    return str(endpoint.status.value)


async def killed(run: Run) -> None:
    """SIGKILL: nothing runs on the way out, the store is left as it was."""
    run.process.send_signal(signal.SIGKILL)
    assert await run.wait(timeout=10) == -signal.SIGKILL


@pytest.mark.slow
async def test_a_kill_mid_streak_continues_the_count_and_disables_at_the_third_round(
    decider: tuple[Decider, str], two_regions: dict[str, RegionalOrigin]
) -> None:
    """SIGKILL after two failing rounds, restarted within the streak gap: westeurope is
    disabled at the third failing round counting the two before the crash, with exactly one
    PATCH."""
    runner, base = decider
    tm = runner.tm
    two_regions["westeurope"].inject(Fault.ERROR, status=500)  # failing from the first round
    async with runner.start() as first:
        await eventually(
            lambda: _is(streak(base, "westeurope"), ("failing", 2)), timeout=30, interval=0.02
        )
        # The recorder writes behind the engine: both rounds must be in the store to survive.
        await eventually(lambda: len(failing_rounds(runner.db, "westeurope")) == 2, timeout=5)
        await killed(first)
    crashed_at = datetime.now(UTC).timestamp()
    assert tm.requests_log.where("PATCH") == []
    assert actions(runner.db) == []
    before = failing_rounds(runner.db, "westeurope")
    assert len(before) == 2

    async with runner.start() as second:
        await eventually(lambda: endpoint_status(tm) == "Disabled", timeout=30, interval=0.05)
        code, _ = await stopped_by(second, signal.SIGTERM)
    assert code == 0, second.stderr[-3000:]

    [disable] = actions(runner.db)
    assert (disable["action"], disable["status"]) == ("disable", "done")
    assert disable["evidence"]["failing_rounds"] == 3
    assert datetime.fromisoformat(disable["evidence"]["since"]).timestamp() == before[0]
    counted = [at for at in failing_rounds(runner.db, "westeurope") if at <= disable["decided_at"]]
    assert len(counted) == 3 and counted[:2] == before and counted[2] > crashed_at
    assert len(tm.requests_log.where("PATCH")) == 1


async def crashed_while_patching(runner: Decider, origin: RegionalOrigin, hold: FaultRule) -> None:
    """Fail westeurope until its disable is decided and the PATCH is held by the emulator,
    then SIGKILL the process while it waits for the answer."""
    origin.inject(Fault.ERROR, status=500)  # failing from the first round
    async with runner.start() as first:
        await eventually(lambda: hold.hits == 1, timeout=30, interval=0.02)
        [intent] = actions(runner.db)  # written ahead, synced, before the PATCH was sent
        assert (intent["action"], intent["status"], intent["attempts"]) == (
            "disable",
            "intended",
            1,
        )
        await killed(first)


@pytest.mark.slow
async def test_a_kill_while_the_patch_is_held_unapplied_is_carried_out_once_after_restart(
    decider: tuple[Decider, str], two_regions: dict[str, RegionalOrigin]
) -> None:
    """SIGKILL while Traffic Manager holds the disabling PATCH without applying it: after the
    restart the recorded intent is carried out (one PATCH applied), one action `done`, one
    `endpoint.disabled` event."""
    runner, _ = decider
    tm = runner.tm
    hold = tm.faults.add(method="PATCH", path_contains="westeurope", status=504, delay=600)
    await crashed_while_patching(runner, two_regions["westeurope"], hold)
    assert endpoint_status(tm) == "Enabled"

    async with runner.start() as second:
        await eventually(lambda: endpoint_status(tm) == "Disabled", timeout=30, interval=0.05)
        await eventually(lambda: disabled_events(runner.db) >= 1, timeout=10)
        code, _ = await stopped_by(second, signal.SIGTERM)
    assert code == 0, second.stderr[-3000:]

    [disable] = actions(runner.db)
    assert (disable["action"], disable["status"], disable["attempts"]) == ("disable", "done", 2)
    assert [e.status for e in tm.requests_log.where("PATCH")] == [200]
    assert disabled_events(runner.db) == 1


@pytest.mark.slow
async def test_a_kill_after_the_patch_landed_unanswered_is_found_done_without_a_second_patch(
    decider: tuple[Decider, str], two_regions: dict[str, RegionalOrigin]
) -> None:
    """SIGKILL while the disabling PATCH has landed but its answer is held: after the restart
    the recorded intent is found done on a fresh read (no second PATCH), one action `done`,
    one `endpoint.disabled` event."""
    runner, _ = decider
    tm = runner.tm
    hold = tm.faults.add(
        method="PATCH", path_contains="westeurope", status=None, delay=600, lands=True
    )
    await crashed_while_patching(runner, two_regions["westeurope"], hold)
    assert endpoint_status(tm) == "Disabled"

    async with runner.start() as second:
        await eventually(lambda: disabled_events(runner.db) >= 1, timeout=30, interval=0.05)
        code, _ = await stopped_by(second, signal.SIGTERM)
    assert code == 0, second.stderr[-3000:]

    [disable] = actions(runner.db)
    assert (disable["action"], disable["status"], disable["attempts"]) == ("disable", "done", 1)
    assert disable["detail"] == "westeurope is Disabled already (an earlier attempt had landed)"
    assert hold.hits == 1 and tm.requests_log.where("PATCH") == []
    assert disabled_events(runner.db) == 1
    assert endpoint_status(tm) == "Disabled"


@pytest.mark.slow
async def test_a_second_run_on_the_same_store_exits_3_naming_the_holder(
    decider: tuple[Decider, str],
) -> None:
    """While one `regionwatch run` holds the store, a second on the same store exits 3 with one
    line naming the holder's pid and host; the first keeps running."""
    runner, base = decider
    lock = Path(f"{runner.db}.lock")
    async with runner.start() as first:
        holder = f"pid {first.process.pid} on {socket.gethostname()}"
        await eventually(lambda: lock.exists() and holder in lock.read_text(), timeout=30)
        async with runner.start("--port", str(free_port())) as second:
            code = await second.wait(timeout=30)
        await eventually(lambda: answers(f"{base}/livez"), timeout=30, interval=0.1)
    lines = second.stderr.strip().splitlines()
    assert code == 3, second.stderr
    assert len(lines) == 1, second.stderr
    assert holder in lines[0] and str(runner.db) in lines[0], lines[0]
