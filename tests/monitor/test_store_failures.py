"""The store's failure modes: refused at start with the file named and what to do, read
failures as one-line StoreErrors, write failures told once when they start and once when
they end."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from storefaults import (
    a_verdict,
    disk_freed,
    disk_full,
    overwrite_pages,
    pages_of,
    read_only,
    store_with_history,
    touch_from_outside,
    writable,
)

from monitor.clock import ManualClock
from monitor.errors import StoreCorrupt, StoreError
from monitor.results import RegionStatus
from monitor.store import Store

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=30)


async def refused(path: Path) -> StoreError:
    """Open a store at `path`, expecting the start to be refused; returns the error."""
    store = Store(path, clock=ManualClock(START), retention=RETENTION)
    try:
        with pytest.raises(StoreError) as caught:
            await store.open()
    finally:
        await store.close()
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return caught.value


def assert_says_move_it_aside(error: StoreError, path: Path) -> None:
    assert isinstance(error, StoreCorrupt)
    assert f"mv {path} {path}.corrupt" in str(error)
    assert "regionwatch starts with a fresh store" in str(error)


async def test_random_bytes_over_a_data_page_refuse_the_start_naming_the_file(
    tmp_path: Path,
) -> None:
    """A results page overwritten with noise, which opening alone never reads, is found by
    the check at start: StoreCorrupt naming the file, quick_check's finding, and what to do."""
    path = tmp_path / "rw.db"
    await store_with_history(path, START)
    leaves = pages_of(path, "results", kind="leaf")
    assert len(leaves) > 3
    overwrite_pages(path, [leaves[len(leaves) // 2]])
    error = await refused(path)
    assert_says_move_it_aside(error, path)
    assert "is corrupt (PRAGMA quick_check: Page " in str(error)


async def test_a_corrupted_table_page_refuses_the_start_naming_the_file(tmp_path: Path) -> None:
    """The verdicts table's root page overwritten: StoreCorrupt naming the file, no sqlite3
    error escaping from loading the latest verdicts."""
    path = tmp_path / "rw.db"
    await store_with_history(path, START)
    overwrite_pages(path, pages_of(path, "verdicts", kind="internal"))
    error = await refused(path)
    assert_says_move_it_aside(error, path)


async def test_a_file_that_is_not_a_database_refuses_the_start(tmp_path: Path) -> None:
    """storage.path naming some other file: StoreCorrupt saying so and to check storage.path."""
    path = tmp_path / "regionwatch.yaml"
    path.write_text("site:\n  hostname: blog.example.com\n" * 20, encoding="utf-8")
    error = await refused(path)
    assert_says_move_it_aside(error, path)
    assert "is not a SQLite database" in str(error)
    assert "check storage.path" in str(error)
    assert path.read_text(encoding="utf-8").startswith("site:")  # left as it was


async def test_a_damaged_header_refuses_the_start(tmp_path: Path) -> None:
    """Noise over the first bytes of a real store (its header): StoreCorrupt."""
    path = tmp_path / "rw.db"
    await store_with_history(path, START, rounds=10)
    with path.open("r+b") as f:
        f.write(os.urandom(100))
    assert_says_move_it_aside(await refused(path), path)


async def test_a_folder_that_cannot_be_created_refuses_the_start(tmp_path: Path) -> None:
    """A file where the store's folder should be: StoreError naming the folder, no OSError."""
    (tmp_path / "data").write_text("", encoding="utf-8")
    path = tmp_path / "data" / "rw.db"
    error = await refused(path)
    assert "cannot be created, nor its folder (a file is in the way)" in str(error)
    assert f"create {tmp_path / 'data'}, writable by regionwatch's user" in str(error)


_OPEN_EACH = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from monitor.clock import ManualClock
from monitor.errors import StoreError
from monitor.store import Store

async def main():
    for path in sys.argv[1:]:
        store = Store(path, clock=ManualClock(datetime.now(UTC)), retention=timedelta(days=1))
        try:
            await store.open()
            print("opened")
        except StoreError as e:
            print(e)
        finally:
            await store.close()

asyncio.run(main())
"""


def open_without_root_powers(*paths: Path) -> list[str]:
    """Open each store in a child process for which file modes hold: root's power to write
    anything (CAP_DAC_OVERRIDE) dropped when running as root. One line per path."""
    command = [sys.executable, "-c", _OPEN_EACH, *map(str, paths)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without util-linux's setpriv to drop root's powers")
        drop = "-dac_override,-dac_read_search"
        command = [setpriv, "--inh-caps=-all", f"--bounding-set={drop}", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.splitlines()


async def test_a_store_that_cannot_be_written_refuses_the_start(tmp_path: Path) -> None:
    """A read-only store file (SQLite would open it read-only without a word) and a read-only
    folder: StoreError naming the file and asking for write access, in a process for which
    the file modes hold."""
    files, folder = tmp_path / "files", tmp_path / "folder"
    files.mkdir()
    folder.mkdir()
    await store_with_history(files / "rw.db", START, rounds=4)
    (files / "rw.db").chmod(0o444)
    folder.chmod(0o555)
    try:
        lines = open_without_root_powers(files / "rw.db", folder / "rw.db")
    finally:
        folder.chmod(0o755)
    for path, line in zip((files / "rw.db", folder / "rw.db"), lines, strict=True):
        assert line.startswith(f"the store at {path} cannot be written (")
        assert "give regionwatch's user write access to it and to its folder" in line


async def test_a_read_that_fails_at_run_time_is_a_one_line_store_error(tmp_path: Path) -> None:
    """Pages damaged under an open store: its reads raise StoreError with SQLite's short
    cause (the sqlite3 error chained), never a sqlite3 error."""
    path = tmp_path / "rw.db"
    await store_with_history(path, START)
    store = Store(path, clock=ManualClock(START), retention=RETENTION)
    await store.open()
    try:
        overwrite_pages(path, pages_of(path, "verdicts", "verdicts_by_region_time"))
        touch_from_outside(path)
        with pytest.raises(StoreError) as caught:
            await store.verdicts("westeurope")
        assert str(caught.value) == (
            "the history store cannot be read: database disk image is malformed"
        )
        assert caught.value.__cause__ is not None
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("make_it_fail", "make_it_work", "error"),
    [
        (disk_full, disk_freed, "database or disk is full"),
        (read_only, writable, "attempt to write a readonly database"),
    ],
    ids=["disk full", "read-only"],
)
async def test_failing_writes_are_told_once_when_they_start_and_once_when_they_end(
    tmp_path: Path, make_it_fail: object, make_it_work: object, error: str
) -> None:
    """Writes failing round after round: `writes.failure` holds since when (the first
    failure) and the error, a prune with nothing to delete does not clear it; one warning when
    they start, one info when they recover, nothing in between; the verdict stays the latest
    in memory."""
    clock = ManualClock(START)
    store = Store(tmp_path / "rw.db", clock=clock, retention=RETENTION)
    await store.open()
    try:
        with structlog.testing.capture_logs() as logs:
            await store.record(a_verdict(clock))
            await make_it_fail(store)  # type: ignore[operator]
            failed_at = None
            for _ in range(200):  # a full disk shows when a write needs a new page
                clock.advance(10)
                try:
                    await store.record(a_verdict(clock, status=RegionStatus.HEALTHY))
                except StoreError as e:
                    assert str(e) == f"the history store cannot be written: {error}"
                    failed_at = clock.now()
                    break
            assert failed_at is not None
            for _ in range(3):
                clock.advance(10)
                with pytest.raises(StoreError):
                    await store.record(a_verdict(clock, status=RegionStatus.DEGRADED))
            with contextlib.suppress(StoreError):  # read-only refuses even a DELETE of nothing
                assert await store.prune() == 0  # writes nothing, so proves nothing
            assert store.writes.failure is not None
            assert store.writes.failure.since == failed_at
            assert store.writes.failure.describe() == (
                f"history store failing since {failed_at:%Y-%m-%dT%H:%M:%SZ}: {error}"
            )
            await make_it_work(store)  # type: ignore[operator]
            clock.advance(10)
            await store.record(a_verdict(clock))
            await store.record(a_verdict(clock))
        assert store.writes.failure is None
    finally:
        await store.close()
    told = [(e["log_level"], e["event"]) for e in logs if e["event"].startswith("store_")]
    assert told == [("warning", "store_writes_failing"), ("info", "store_writes_recovered")]
    assert logs[0]["error"] == error
    assert not any("exc_info" in e or "exception" in e for e in logs)
