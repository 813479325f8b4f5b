"""The SQLite store: history across restarts, retention, migrations."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storefaults import a_verdict

from monitor.clock import ManualClock
from monitor.errors import StoreError
from monitor.results import (
    CheckResult,
    Outcome,
    RegionStatus,
    RegionVerdict,
)
from monitor.store import MIGRATIONS, Store

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def test_history_and_latest_verdict_survive_a_restart(tmp_path: Path) -> None:
    """What one process recorded, the next one reads back exactly."""
    clock = ManualClock(START)
    store = Store(tmp_path / "rw.db", clock=clock, retention=timedelta(days=30))
    await store.open()
    first = a_verdict(clock)
    await store.record(first)
    clock.advance(10)
    second = a_verdict(clock, status=RegionStatus.HEALTHY)
    await store.record(second)
    await store.close()

    reopened = Store(tmp_path / "rw.db", clock=clock, retention=timedelta(days=30))
    await reopened.open()
    try:
        assert reopened.latest()["westeurope"] == second
        history = await reopened.verdicts("westeurope")
        assert [v.status for v in history] == [RegionStatus.HEALTHY, RegionStatus.FAILING]
        results = await reopened.results("westeurope", check="home")
        assert results == [second.results[0], first.results[0]]
    finally:
        await reopened.close()


async def test_retention_deletes_only_rounds_older_than_the_period(tmp_path: Path) -> None:
    """Pruning removes rounds past retention, with their results, and keeps the rest."""
    clock = ManualClock(START)
    store = Store(tmp_path / "rw.db", clock=clock, retention=timedelta(days=1))
    await store.open()
    try:
        await store.record(a_verdict(clock))
        clock.advance(timedelta(hours=20).total_seconds())
        await store.record(a_verdict(clock))
        clock.advance(timedelta(hours=6).total_seconds())
        assert await store.prune() == 1
        assert len(await store.verdicts("westeurope")) == 1
        assert len(await store.results("westeurope")) == 1
        assert await store.prune() == 0
    finally:
        await store.close()


async def test_store_is_created_in_wal_mode_at_the_latest_schema(tmp_path: Path) -> None:
    """A new store is migrated to the newest schema and uses WAL."""
    store = Store(tmp_path / "sub" / "rw.db", clock=ManualClock(START), retention=timedelta(days=1))
    await store.open()
    await store.close()
    db = sqlite3.connect(tmp_path / "sub" / "rw.db")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


async def test_a_store_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    """A schema newer than this code knows is an error, not silent corruption."""
    path = tmp_path / "rw.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    store = Store(path, clock=ManualClock(START), retention=timedelta(days=1))
    with pytest.raises(StoreError, match="newer than this release of regionwatch knows") as e:
        await store.open()
    assert f"the store at {path} has schema version {len(MIGRATIONS) + 1}" in str(e.value)
    await store.close()


async def test_latest_is_each_regions_newest_verdict_as_of_opening(tmp_path: Path) -> None:
    """latest() holds the newest verdict of each region found when the store was opened,
    with its results: where a restarted service starts from."""
    clock = ManualClock(START)
    store = Store(tmp_path / "rw.db", clock=clock, retention=timedelta(days=1))
    await store.open()
    try:
        await store.record(a_verdict(clock, "westeurope", RegionStatus.HEALTHY))
        clock.advance(10)
        await store.record(a_verdict(clock, "westeurope"))
        await store.record(a_verdict(clock, "centralus", RegionStatus.HEALTHY))
        assert store.latest() == {}  # what was there at opening: nothing
    finally:
        await store.close()
    reopened = Store(tmp_path / "rw.db", clock=clock, retention=timedelta(days=1))
    await reopened.open()
    try:
        latest = reopened.latest()
        assert {r: v.status for r, v in latest.items()} == {
            "westeurope": RegionStatus.FAILING,
            "centralus": RegionStatus.HEALTHY,
        }
        assert latest["westeurope"].results
        assert latest["westeurope"].decided_at == START + timedelta(seconds=10)
    finally:
        await reopened.close()


async def test_a_failed_write_does_not_wedge_the_store(tmp_path: Path) -> None:
    """A write that fails mid-transaction is rolled back; the next one lands."""
    clock = ManualClock(START)
    store = Store(tmp_path / "rw.db", clock=clock, retention=timedelta(days=1))
    await store.open()
    try:
        good = a_verdict(clock)
        bad_result = CheckResult(
            "home",
            "https",
            "westeurope",
            Outcome.UP,
            clock.now(),
            timedelta(0),
            facts={"not json": object()},  # type: ignore[dict-item]
        )
        bad = RegionVerdict("westeurope", RegionStatus.HEALTHY, clock.now(), (), (bad_result,))
        with pytest.raises(TypeError):
            await store.record(bad)
        await store.record(good)
        history = await store.verdicts("westeurope")
        assert [v.status for v in history] == [RegionStatus.FAILING]
    finally:
        await store.close()


async def test_status_counts_count_one_regions_rounds_since_a_time(tmp_path: Path) -> None:
    """Uptime's source: the rounds of one region at or after `since`, counted by status;
    older rounds and other regions are left out."""
    clock = ManualClock(START)
    store = Store(tmp_path / "rw.db", clock=clock, retention=timedelta(days=30))
    await store.open()
    try:
        await store.record(a_verdict(clock, status=RegionStatus.FAILING))  # before `since`
        clock.advance(3600)
        since = clock.now()
        await store.record(a_verdict(clock, status=RegionStatus.HEALTHY))
        clock.advance(10)
        await store.record(a_verdict(clock, status=RegionStatus.HEALTHY))
        await store.record(a_verdict(clock, status=RegionStatus.FAILING))
        await store.record(a_verdict(clock, "centralus", status=RegionStatus.FAILING))
        counts = await store.status_counts("westeurope", since=since)
    finally:
        await store.close()
    assert counts == {RegionStatus.HEALTHY: 2, RegionStatus.FAILING: 1}
