"""The engine: evidence applied in arrival order by one task, whole snapshots for readers, and
neither a slow store nor a failing subscriber holding it up."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import structlog
from servers import eventually
from verdicts import CONFIG, REGIONS, START, verdict

from monitor.clock import ManualClock
from monitor.engine import Engine, Publication
from monitor.events import EventType
from monitor.eventstore import EventQuery
from monitor.evidence import RoundFinished
from monitor.fold import first_snapshot
from monitor.recorder import Recorder
from monitor.results import RegionStatus
from monitor.snapshot import Snapshot
from monitor.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "engine.db", clock=ManualClock(START), retention=timedelta(days=1))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def engine(store: Store) -> AsyncIterator[Engine]:
    clock = ManualClock(START)
    engine = Engine(
        CONFIG,
        clock=clock,
        first=first_snapshot(CONFIG, instance="test", now=START),
        recorder=Recorder(store),
    )
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


def statuses(count: int) -> list[tuple[str, RegionStatus, datetime]]:
    """Rounds alternating regions, each region's status cycling, every round at its own time."""
    cycle = [
        RegionStatus.HEALTHY,
        RegionStatus.FAILING,
        RegionStatus.FAILING,
        RegionStatus.DEGRADED,
    ]
    return [
        (REGIONS[i % 2], cycle[(i // 2) % 4], START + timedelta(seconds=i + 1))
        for i in range(count)
    ]


async def test_evidence_is_applied_and_recorded_in_arrival_order(
    engine: Engine, store: Store
) -> None:
    """200 rounds submitted at once: the snapshot's version counts them, each region ends on
    its last round, and the store holds them in the order they were submitted."""
    rounds = statuses(200)
    before = engine.snapshot.version
    for region, status, at in rounds:
        engine.submit(RoundFinished(verdict(region, status, at)))
    snapshot = await engine.settle()
    assert snapshot.version == before + 200
    for region in REGIONS:
        last = [(s, at) for r, s, at in rounds if r == region][-1]
        assert (
            snapshot.regions[region].status,
            snapshot.regions[region].verdict.decided_at,
        ) == last
        stored = await store.verdicts(region, limit=1000)
        assert [v.decided_at for v in reversed(stored)] == [
            at for r, _, at in rounds if r == region
        ]


async def test_readers_hammering_the_snapshot_never_see_a_half_applied_change(
    engine: Engine,
) -> None:
    """While evidence flows, readers checking that every part of a snapshot tells the same
    story (verdict, streak, `/healthz` answer, open condition, version) never find a mismatch."""
    seen: list[int] = []
    broken: list[str] = []
    done = asyncio.Event()

    def consistent(snapshot: Snapshot) -> str | None:
        for name, view in snapshot.regions.items():
            if view.streak is not None and view.streak.last_at != view.verdict.decided_at:
                return f"{name}: streak ends at {view.streak.last_at}, verdict at {view.verdict.decided_at}"
            if f'"status": "{view.status.value}"' not in snapshot.health[name].body.decode():
                return f"{name}: /healthz says otherwise than {view.status.value}"
            condition = snapshot.conditions.get(f"region/{name}")
            failing = view.status is RegionStatus.FAILING
            if failing != (condition is not None and condition.type is EventType.REGION_FAILING):
                return f"{name}: {view.status.value} but condition {condition}"
        return None

    async def reader() -> None:
        while not done.is_set():
            snapshot = engine.snapshot
            problem = consistent(snapshot)
            if problem:
                broken.append(problem)
            if seen and snapshot.version < seen[-1]:
                broken.append(f"version went back from {seen[-1]} to {snapshot.version}")
            seen.append(snapshot.version)
            await asyncio.sleep(0)

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    for region, status, at in statuses(400):
        engine.submit(RoundFinished(verdict(region, status, at)))
        if at.second % 7 == 0:
            await asyncio.sleep(0)  # let readers in while evidence is still queued
    await engine.settle()
    done.set()
    await asyncio.gather(*readers)
    assert broken == []
    assert len(set(seen)) > 20  # the readers did see the snapshots change under them


async def test_a_failing_or_slow_subscriber_never_holds_the_engine_up(engine: Engine) -> None:
    """A subscriber that raises is logged and goes on; one that never returns falls behind
    (its oldest publications dropped, told once); the engine and a healthy subscriber see
    every item."""
    got: list[int] = []
    stuck = asyncio.Event()

    async def healthy(publication: Publication) -> None:
        got.append(publication.snapshot.version)

    async def failing(publication: Publication) -> None:
        raise RuntimeError("a subscriber's bug")

    async def slow(publication: Publication) -> None:
        await stuck.wait()

    engine.subscribe("healthy", healthy)
    engine.subscribe("failing", failing)
    laggard = engine.subscribe("slow", slow, size=5)
    first = engine.snapshot.version
    with structlog.testing.capture_logs() as logs:
        for region, status, at in statuses(50):
            engine.submit(RoundFinished(verdict(region, status, at)))
        await engine.settle()
        await eventually(lambda: len(got) == 50)
    assert got == list(range(first + 1, first + 51))
    # Its queue full (5), the one it took stuck in its handler, every other one dropped.
    assert laggard.queued == 5
    assert laggard.dropped in (50 - 5 - 1, 50 - 5)
    told = [e["event"] for e in logs if e.get("subscriber") == "slow"]
    assert told == ["subscriber_fell_behind"]
    assert sum(1 for e in logs if e["event"] == "subscriber_failed") == 50
    stuck.set()


async def test_a_slow_store_delays_the_history_not_the_engine(engine: Engine, store: Store) -> None:
    """Another process holding the store's write lock: the engine keeps applying evidence and
    publishing snapshots at once; the history lands when the lock goes."""
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # every write of the store waits (busy_timeout)
    try:
        for region, status, at in statuses(20):
            engine.submit(RoundFinished(verdict(region, status, at)))
        await eventually(
            lambda: (
                engine.snapshot.regions["centralus"].verdict.decided_at
                == START + timedelta(seconds=20)
            ),
            timeout=2,
        )
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await engine.settle()
    assert len(await store.verdicts("westeurope", limit=100)) == 10
    stored = await store.events(EventQuery())
    assert stored  # the events waited too, and landed
