"""Damaging a SQLite store the ways disks and operators do, for the store's failure tests.

Corruption is real bytes written over real pages of a real store. A full disk and a read-only
file are SQLite's own refusals on the store's connection, because the tests run as root, for
whom neither a full file system (no mount without privileges) nor `chmod 0444` (root writes
anyway, and an open file stays writable whatever its mode becomes) can be had:
- full: `PRAGMA max_page_count` at the current size; the next write needing a page fails
  with SQLITE_FULL, "database or disk is full", the error ENOSPC gives;
- read-only: `PRAGMA query_only`; every write fails with SQLITE_READONLY, "attempt to write
  a readonly database", the error of a file SQLite could only open for reading.
Both fail the statement inside the Store's own write path, as the real causes do.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from monitor.clock import ManualClock
from monitor.results import (
    CheckResult,
    FailureClass,
    OnFailure,
    Outcome,
    RegionStatus,
    RegionVerdict,
)
from monitor.store import Store

__all__ = [
    "a_verdict",
    "disk_freed",
    "disk_full",
    "overwrite_pages",
    "pages_of",
    "read_only",
    "store_with_history",
    "touch_from_outside",
    "writable",
]

RETENTION = timedelta(days=30)


def a_verdict(
    clock: ManualClock, region: str = "westeurope", status: RegionStatus = RegionStatus.FAILING
) -> RegionVerdict:
    result = CheckResult(
        check="home",
        kind="https",
        region=region,
        outcome=Outcome.DOWN,
        started_at=clock.now(),
        duration=timedelta(milliseconds=12.5),
        reason="X-Cache-Status STALE",
        on_failure=OnFailure.FAILOVER,
        failure_class=FailureClass.CONTENT,
        latency_ms=12.5,
        facts={"status": 200, "cache_status": "STALE", "body_truncated": False, "release": None},
    )
    return RegionVerdict(region, status, clock.now(), ("home: X-Cache-Status STALE",), (result,))


async def store_with_history(path: Path, start: datetime, *, rounds: int = 100) -> None:
    """A closed store at `path` holding `rounds` rounds of two regions, 10 s apart: enough
    for every table of history to span several pages."""
    clock = ManualClock(start)
    store = Store(path, clock=clock, retention=RETENTION)
    await store.open()
    try:
        for n in range(rounds):
            await store.record(a_verdict(clock, ("westeurope", "centralus")[n % 2]))
            clock.advance(10)
    finally:
        await store.close()


def pages_of(path: Path, *names: str, kind: str | None = None) -> list[int]:
    """The page numbers of these tables and indexes (SQLite's dbstat), `kind` 'leaf' or
    'internal' for only those."""
    db = sqlite3.connect(path)
    try:
        marks = ", ".join("?" for _ in names)
        query = f"SELECT pageno FROM dbstat WHERE name IN ({marks})"  # noqa: S608 (placeholders)
        args: list[str] = list(names)
        if kind is not None:
            query += " AND pagetype = ?"
            args.append(kind)
        return [row[0] for row in db.execute(query + " ORDER BY pageno", args)]
    finally:
        db.close()


def overwrite_pages(path: Path, pages: list[int], *, seed: int = 1) -> None:
    """Random bytes (seeded) over whole pages of the file, as a failing disk leaves them."""
    db = sqlite3.connect(path)
    try:
        size = db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()
    noise = random.Random(seed)
    with path.open("r+b") as f:
        for page in pages:
            f.seek((page - 1) * size)
            f.write(noise.randbytes(size))


def touch_from_outside(path: Path) -> None:
    """A write by another connection: the store's connection sees the file changed and drops
    the pages it had cached, so its next read comes from disk."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute(f"PRAGMA user_version = {version}")
    finally:
        db.close()


async def _pragma(store: Store, statement: str) -> None:
    def run() -> None:
        store._conn().execute(statement)

    await store._call(run)


async def disk_full(store: Store) -> None:
    """From now on the store's file may not grow: a write needing a new page fails."""
    await _pragma(store, "PRAGMA max_page_count = 1")  # never below the current size


async def disk_freed(store: Store) -> None:
    await _pragma(store, "PRAGMA max_page_count = 1073741823")


async def read_only(store: Store) -> None:
    """From now on every write of the store fails as on a file opened read-only."""
    await _pragma(store, "PRAGMA query_only = ON")


async def writable(store: Store) -> None:
    await _pragma(store, "PRAGMA query_only = OFF")
