"""History in SQLite: rounds, Traffic Manager reads, DNS rounds and events.

SQLite runs in WAL mode on one dedicated thread: the event loop never blocks on disk, and
one connection on one thread needs no locking of our own. The schema is created and
migrated here, in order, by `PRAGMA user_version`.

Opening checks the file (`PRAGMA quick_check`) and that it can be written, so a corrupt or
read-only store stops the start with a message naming the file and what to do, rather than
failing later, round after round. Past the start, no sqlite3 error leaves this module: reads
and writes raise `StoreError`, and failing writes are tracked in `writes` (a `WriteHealth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from monitor.alerts.grouping import Noise, Plan, plan
from monitor.alerts.outbox import (
    DEAD,
    DELIVERED,
    OUTBOX_SCHEMA,
    OutboxRow,
    Router,
    channel_pending,
    dead_letters,
    enqueue_alerts,
    finish_row,
    fold_rows,
    last_sent,
    outbox_counts,
    pending_rows,
    postpone_row,
    prune_outbox,
    resend_row,
    rewrite_event,
)
from monitor.alerts.reminders import queue_reminders
from monitor.auditstore import (
    AUDIT_ACTORS,
    AUDIT_SCHEMA,
    ActionRecord,
    finish_action,
    insert_deploy,
    insert_intent,
    marker_posted,
    note_attempt,
    prune_audit,
    select_actions,
    select_deploys,
)
from monitor.audittrail import TrailEntry, select_trail
from monitor.clock import Clock
from monitor.controls import Control, ControlKind
from monitor.controlstore import CONTROLS_SCHEMA, save_control, select_controls
from monitor.deploys import Deploy
from monitor.errors import StoreCorrupt, StoreError
from monitor.events import Condition, Event
from monitor.eventstore import (
    EVENTS_SCHEMA,
    EventQuery,
    StoredEvent,
    insert_events,
    open_conditions,
    prune_events,
    select_events,
)
from monitor.results import (
    CheckResult,
    FailureClass,
    OnFailure,
    Outcome,
    RegionStatus,
    RegionVerdict,
)
from monitor.storehealth import WriteHealth
from monitor.storelock import StoreLock

if TYPE_CHECKING:  # types only: importing them pulls in the configuration and DNS modules
    from monitor.dnsmap import DnsFinding
    from monitor.trafficmanager.watch import Reading

__all__ = ["DEFAULT_AUDIT_RETENTION", "MIGRATIONS", "Store"]

T = TypeVar("T")

log = structlog.get_logger("monitor.store")

# `storage.audit_retention`'s default: who did what to an endpoint is asked about long after
# the rounds that explain it are gone.
DEFAULT_AUDIT_RETENTION = timedelta(days=365)

# quick_check stops at the first problem: one is enough to refuse the file, and the message
# names it.
_QUICK_CHECK = "PRAGMA quick_check(1)"

# Append only: a migration that shipped is never edited, a new one is added after it.
MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE verdicts (
        id INTEGER PRIMARY KEY,
        region TEXT NOT NULL,
        status TEXT NOT NULL,
        decided_at REAL NOT NULL,
        reasons TEXT NOT NULL
    );
    CREATE INDEX verdicts_by_region_time ON verdicts (region, decided_at);
    CREATE INDEX verdicts_by_time ON verdicts (decided_at);
    CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        verdict_id INTEGER REFERENCES verdicts (id) ON DELETE CASCADE,
        region TEXT NOT NULL,
        check_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT NOT NULL,
        on_failure TEXT NOT NULL,
        failure_class TEXT,
        latency_ms REAL,
        started_at REAL NOT NULL,
        duration_ms REAL NOT NULL,
        facts TEXT NOT NULL
    );
    CREATE INDEX results_by_region_check_time ON results (region, check_name, started_at);
    CREATE INDEX results_by_verdict ON results (verdict_id);
    CREATE INDEX results_by_time ON results (started_at);
    """,
    """
    CREATE TABLE tm_readings (
        id INTEGER PRIMARY KEY,
        read_at REAL NOT NULL,
        error TEXT
    );
    CREATE INDEX tm_readings_by_time ON tm_readings (read_at);
    CREATE TABLE tm_endpoints (
        reading_id INTEGER NOT NULL REFERENCES tm_readings (id) ON DELETE CASCADE,
        endpoint TEXT NOT NULL,
        endpoint_status TEXT NOT NULL,
        monitor_status TEXT,
        target TEXT
    );
    CREATE INDEX tm_endpoints_by_reading ON tm_endpoints (reading_id);
    """,
    """
    CREATE TABLE dns_results (
        id INTEGER PRIMARY KEY,
        checked_at REAL NOT NULL,
        resolver TEXT NOT NULL,
        vantage TEXT,
        status TEXT NOT NULL,
        region TEXT,
        expected_region TEXT,
        addresses TEXT NOT NULL,
        hops TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX dns_results_by_time ON dns_results (checked_at);
    CREATE INDEX dns_results_by_resolver ON dns_results (resolver, vantage, checked_at);
    """,
    """
    ALTER TABLE results ADD COLUMN vantage TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE results ADD COLUMN received_at REAL;
    """
    + EVENTS_SCHEMA,
    AUDIT_SCHEMA,
    # What the failover policy reads of a profile besides the endpoints' statuses, so a replay
    # sees what the decider saw; NULL in reads recorded before these were kept.
    """
    ALTER TABLE tm_readings ADD COLUMN profile TEXT;
    ALTER TABLE tm_readings ADD COLUMN routing_method TEXT;
    ALTER TABLE tm_readings ADD COLUMN monitor_path TEXT;
    ALTER TABLE tm_endpoints ADD COLUMN geo_mapping TEXT;
    ALTER TABLE tm_endpoints ADD COLUMN always_serve INTEGER;
    """,
    CONTROLS_SCHEMA,
    AUDIT_ACTORS,
    OUTBOX_SCHEMA,
)


class Store:
    """Round history with retention; `latest` answers from memory without touching disk."""

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Clock,
        retention: timedelta,
        audit_retention: timedelta = DEFAULT_AUDIT_RETENTION,
        lock: bool = False,
        route_alerts: Router | None = None,
    ) -> None:
        self.path = Path(path)
        # Which alert channels an event goes to; None: no channels, no outbox rows.
        self.route_alerts = route_alerts
        # Called on the event loop after a write queued alerts: the dispatchers wake.
        self.outbox_listeners: list[Callable[[], None]] = []
        self._clock = clock
        self._retention = retention
        self._audit_retention = audit_retention
        # One writer per store: the decider holds `<path>.lock` while it runs.
        self._lock = StoreLock(self.path, clock) if lock and str(path) != ":memory:" else None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="regionwatch-store")
        self._db: sqlite3.Connection | None = None
        self._latest: dict[str, RegionVerdict] = {}
        self.writes = WriteHealth(self.path, clock)

    async def open(self) -> None:
        """Open (creating or migrating) the database, check it, and load the last verdict of
        each region. Raises `StoreCorrupt` when the file is not a SQLite database or has a
        damaged page, and `StoreError` when it is from a newer release, cannot be written, or
        cannot be opened; the message is one line naming the file and what to do. The check
        reads the whole file, on the store's thread: the event loop keeps running. With
        `lock`, first takes the store's lock, or raises `StoreError` naming the process that
        holds it."""
        if self._lock is not None:
            self._lock.acquire()
        try:
            self._latest = await self._call(self._open)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    async def close(self) -> None:
        if self._db is not None:
            await self._call(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)
        if self._lock is not None:
            self._lock.release()

    def latest(self) -> Mapping[str, RegionVerdict]:
        """The last verdict of every region that had one when the store was opened: where a
        restarted service starts from."""
        return self._latest

    async def record(self, verdict: RegionVerdict) -> None:
        """Store one round: the verdict and the results that decided it."""
        await self._write(self._insert, verdict)

    async def recent_rounds(self, region: str, *, limit: int) -> list[RegionVerdict]:
        """A region's last `limit` rounds with their results, oldest first: what the failover
        policy counts again after a restart."""
        return await self._read(self._select_rounds, region, limit)

    async def recent_statuses(
        self, region: str, *, limit: int
    ) -> list[tuple[RegionStatus, datetime]]:
        """The statuses of a region's last `limit` rounds and when each was decided, newest
        first: what its streak is rebuilt from after a restart."""
        return await self._read(self._select_statuses, region, limit)

    async def record_events(self, events: Sequence[Event]) -> None:
        """Store events; one whose id is already stored is not stored again. Its failure
        counts as failing writes; its success does not prove them recovered: a nearly full
        disk takes a few small rows and refuses a round's, and the news of the failure must
        not be what ends it.
        Each event stored for the first time is queued in the alert outbox for the channels
        `route_alerts` names, in the same transaction: an event stored is an alert owed."""
        queued = await self._write(self._insert_events, events, proves_recovery=False)
        if queued:
            for listener in self.outbox_listeners:
                listener()

    async def outbox_heads(self, channel: str) -> list[OutboxRow]:
        """The next pending alert of each lane of `channel`, oldest first."""
        return await self._read(pending_rows, self._conn(), channel)

    async def outbox_plan(self, channel: str, now: float, noise: Noise) -> Plan:
        """Apply the noise rules to `channel`'s pending alerts (recording what they fold) and
        return the plan: the rows to attempt now, and when something else is due."""
        # Mostly it writes nothing: no proof that failing writes have recovered.
        return await self._write(
            self._run_in_transaction,
            self._plan_outbox,
            channel,
            now,
            noise,
            proves_recovery=False,
        )

    async def outbox_remind(
        self, channel: str, now: float, every: timedelta, silenced: AbstractSet[str]
    ) -> float | None:
        """Queue the reminders due in `channel` (none for a region in `silenced`); returns
        when the next one falls due. Wakes the dispatchers when one was queued."""
        queued: int
        due: float | None
        queued, due = await self._write(
            self._run_in_transaction,
            queue_reminders,
            channel,
            now,
            every.total_seconds(),
            silenced,
            proves_recovery=False,
        )
        if queued:
            for listener in self.outbox_listeners:
                listener()
        return due

    async def outbox_postpone(self, seq: int, next_at: float, error: str) -> None:
        """A failed attempt of an outbox row, and when to try again."""
        await self._write(self._run_in_transaction, postpone_row, seq, next_at, error)

    async def outbox_finish(self, seq: int, *, dead: bool, error: str | None = None) -> None:
        """An outbox row delivered, or given up as a dead letter."""
        state = DEAD if dead else DELIVERED
        at = self._clock.now().timestamp()
        await self._write(self._run_in_transaction, finish_row, seq, state, at, error)

    async def dead_letters(
        self,
        channel: str | None = None,
        *,
        before: int | None = None,
        limit: int | None = None,
        key: str | None = None,
    ) -> list[dict[str, Any]]:
        """The alerts given up, newest first: those of `channel` (or the one with `key`),
        older than the `seq` `before`, at most `limit`."""
        return await self._read(
            lambda: dead_letters(self._conn(), channel, before=before, limit=limit, key=key)
        )

    async def outbox_resend(self, key: str) -> bool:
        """Queue the dead letter `key` again, behind what its lane already holds; False when
        there is no such dead letter."""
        now = self._clock.now().timestamp()
        found: bool = await self._write(self._run_in_transaction, resend_row, key, now)
        if found:
            for listener in self.outbox_listeners:
                listener()
        return found

    async def outbox_counts(self) -> dict[str, dict[str, int]]:
        """Alerts per channel and state (pending, delivered, dead)."""
        return await self._read(outbox_counts, self._conn())

    async def events(self, query: EventQuery) -> list[StoredEvent]:
        """Stored events matching `query`, newest first."""
        return await self._read(self._select_events, query)

    async def record_deploy(self, deploy: Deploy) -> None:
        """Store a deploy (marked or detected); one stored already is left as it is."""
        await self._write(self._run_in_transaction, insert_deploy, deploy)

    async def deploys(
        self,
        *,
        region: str | None = None,
        since: datetime | None = None,
        id: str | None = None,
        limit: int = 100,
    ) -> list[Deploy]:
        """Deploys (one region's, since a time, the one with `id`), newest first."""
        return await self._read(
            lambda: select_deploys(self._conn(), region=region, since=since, id=id, limit=limit)
        )

    async def marker_posted(self) -> bool:
        """Whether a deploy marker was ever posted (within the audit retention)."""
        return await self._read(lambda: marker_posted(self._conn()))

    async def record_intent(self, **intent: Any) -> bool:
        """Record a decision before it is carried out, synced to disk (no record, no write);
        False when it was recorded already."""
        return await self._write(self._insert_intent, intent)

    async def note_attempt(self, decision_id: str) -> None:
        await self._write(self._run_in_transaction, note_attempt, decision_id)

    async def finish_action(self, decision_id: str, **outcome: Any) -> None:
        """What became of a decision: done, dry_run, refused (by which guard rail), failed,
        superseded."""
        await self._write(lambda: self._in_transaction(finish_action, decision_id, **outcome))

    async def actions(self, **filters: Any) -> list[ActionRecord]:
        """The audit trail, newest first (filters: region, status, since, before, id, limit)."""
        return await self._read(lambda: select_actions(self._conn(), **filters))

    async def trail(self, **filters: Any) -> list[TrailEntry]:
        """The whole audit trail, decisions and control changes, newest first (filters:
        region, since, before, limit; `monitor.audittrail.select_trail`)."""
        return await self._read(lambda: select_trail(self._conn(), **filters))

    async def save_control(self, control: Control) -> None:
        """Store a pin, silence or pause as it is now: started, or ended (who, when, why)."""
        await self._write(self._run_in_transaction, save_control, control)

    async def controls(
        self,
        *,
        kind: ControlKind | None = None,
        in_force: bool = False,
        id: str | None = None,
        limit: int = 100,
    ) -> list[Control]:
        """Pins, silences and pauses, newest first; `in_force`: those not ended yet."""
        return await self._read(
            lambda: select_controls(self._conn(), kind=kind, in_force=in_force, id=id, limit=limit)
        )

    async def open_conditions(self) -> dict[str, Condition]:
        """The conditions whose last event did not close them: what was open at the last stop."""
        return await self._read(self._open_conditions)

    async def results(
        self, region: str, *, check: str | None = None, limit: int = 100
    ) -> list[CheckResult]:
        """The most recent results of a region, newest first."""
        return await self._read(self._select_results, region, check, limit)

    async def result_page(
        self,
        region: str,
        *,
        check: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[tuple[int, CheckResult]]:
        """A region's results, newest first, each with its row id (`before` takes the last
        one of a page, for the next): of one `check`, started within [`since`, `until`)."""
        return await self._read(
            self._select_result_page, region, check, since, until, before, limit
        )

    async def verdicts(self, region: str, *, limit: int = 100) -> list[RegionVerdict]:
        """The most recent verdicts of a region (without their results), newest first."""
        return await self._read(self._select_verdicts, region, limit)

    async def status_counts(self, region: str, *, since: datetime) -> dict[RegionStatus, int]:
        """How many of a region's stored rounds since `since` had each status: what its uptime
        over a period is computed from (a status with no round is left out)."""
        return await self._read(self._count_statuses, region, since.timestamp())

    async def record_traffic_manager(self, reading: Reading) -> None:
        """Store one read of Traffic Manager: every endpoint's state, or the error."""
        await self._write(self._insert_reading, reading)

    async def traffic_manager_history(
        self, endpoint: str, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Recent readings of one endpoint (and failed reads), newest first."""
        return await self._read(self._select_readings, endpoint, limit)

    async def record_dns(self, checked_at: float, findings: Sequence[DnsFinding]) -> None:
        """Store one DNS round."""
        if findings:  # nothing to write proves nothing about the store
            await self._write(self._insert_dns, checked_at, findings)

    async def dns_history(
        self, resolver: str, vantage: str | None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Recent statuses of one resolver × vantage point, newest first."""
        return await self._read(self._select_dns, resolver, vantage, limit)

    async def prune(self) -> int:
        """Delete the history (rounds, Traffic Manager reads, DNS rounds, events) older than
        the retention period, and the audit trail (finished actions) and deploys older than
        the audit retention; returns the number of rounds deleted.
        Its failure counts as failing writes; its success does not prove them recovered (with
        nothing old enough it writes nothing, and deleting works on a disk too full to insert)."""
        now = self._clock.now()
        cutoff = (now - self._retention).timestamp()
        audit_cutoff = (now - self._audit_retention).timestamp()
        return await self._write(self._delete_before, cutoff, audit_cutoff, proves_recovery=False)

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def _read(self, fn: Callable[..., T], *args: object) -> T:
        """`fn` on the store's thread; a SQLite error becomes a one-line `StoreError` (the API
        answers it with 503) and one log line without a traceback."""
        try:
            return await self._call(fn, *args)
        except sqlite3.Error as e:
            cause = _one_line(e)
            log.warning("store_read_failed", path=str(self.path), error=cause)
            raise StoreError(f"the history store cannot be read: {cause}") from e

    async def _write(self, fn: Callable[..., T], *args: object, proves_recovery: bool = True) -> T:
        """`fn` on the store's thread, its outcome told to `writes`; a SQLite error becomes a
        one-line `StoreError`. Other exceptions (a bug, not the store) pass through untold."""
        try:
            result = await self._call(fn, *args)
        except sqlite3.Error as e:
            cause = _one_line(e)
            self.writes.failed(cause)
            raise StoreError(f"the history store cannot be written: {cause}") from e
        if proves_recovery:
            self.writes.succeeded()
        return result

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    def _open(self) -> dict[str, RegionVerdict]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            # A file where a folder should be is FileExistsError; name it so.
            cause = "a file is in the way" if isinstance(e, FileExistsError) else e.strerror
            raise StoreError(
                f"the store at {self.path} cannot be created, nor its folder ({cause}): create "
                f"{self.path.parent}, writable by regionwatch's user, or set storage.path to "
                "another file"
            ) from e
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
            self._prepare(db)
            latest = self._load_latest(db)
        except BaseException as e:
            if db is not None:
                db.close()
            if isinstance(e, sqlite3.Error):
                raise self._open_error(e) from e
            raise
        self._db = db
        return latest

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Settings, then refuse a newer schema or a damaged file, migrate, and prove a write."""
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the store at {self.path} has schema version {version}, newer than this "
                f"release of regionwatch knows ({len(MIGRATIONS)}): run the newer release, "
                "or set storage.path to another file"
            )
        problems = [row[0] for row in db.execute(_QUICK_CHECK)]
        if problems != ["ok"]:
            raise self._corrupt(f"PRAGMA quick_check: {_one_line(problems[0])}")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with _transaction(db):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
        # A real, committed write (the same value again): SQLite opens a file it may not write
        # read-only without a word, and a full disk shows only when something is written.
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def _corrupt(self, detail: str) -> StoreCorrupt:
        p = self.path
        return StoreCorrupt(
            f"the store at {p} is corrupt ({detail}): move it aside "
            f"(mv {p} {p}.corrupt, and {p}-wal to {p}.corrupt-wal if present) and start "
            "again; regionwatch starts with a fresh store"
        )

    def _open_error(self, e: sqlite3.Error) -> StoreError:
        """What a SQLite error while opening means, and what to do about it."""
        p, cause = self.path, _one_line(e)
        code = getattr(e, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
        if code == sqlite3.SQLITE_NOTADB:
            return StoreCorrupt(
                f"the store at {p} is not a SQLite database, or its header is damaged "
                f"({cause}): check storage.path; if it names the store, move the file aside "
                f"(mv {p} {p}.corrupt) and start again; regionwatch starts with a fresh store"
            )
        if code == sqlite3.SQLITE_CORRUPT:
            return self._corrupt(cause)
        if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
            return StoreError(
                f"the store at {p} cannot be written ({cause}): give regionwatch's user write "
                f"access to it and to its folder (SQLite writes {p.name}-wal and {p.name}-shm "
                "beside it), or set storage.path to another file"
            )
        if code == sqlite3.SQLITE_FULL:
            return StoreError(
                f"the store at {p} cannot be written ({cause}): free space on its disk, "
                "or set storage.path to another disk"
            )
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StoreError(
                f"the store at {p} is locked by another process ({cause}): stop the other "
                "regionwatch using it, or give this one its own storage.path"
            )
        return StoreError(f"the store at {p} cannot be opened: {cause}")

    def _insert(self, verdict: RegionVerdict) -> None:
        db = self._conn()
        with _transaction(db):
            cursor = db.execute(
                "INSERT INTO verdicts (region, status, decided_at, reasons) VALUES (?, ?, ?, ?)",
                (
                    verdict.region,
                    verdict.status.value,
                    verdict.decided_at.timestamp(),
                    json.dumps(verdict.reasons),
                ),
            )
            db.executemany(
                "INSERT INTO results (verdict_id, region, check_name, kind, outcome, reason, on_failure,"
                " failure_class, latency_ms, started_at, duration_ms, facts, vantage, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        cursor.lastrowid,
                        r.region,
                        r.check,
                        r.kind,
                        r.outcome.value,
                        r.reason,
                        r.on_failure.value,
                        r.failure_class.value if r.failure_class else None,
                        r.latency_ms,
                        r.started_at.timestamp(),
                        r.duration.total_seconds() * 1000,
                        json.dumps(dict(r.facts)),
                        r.vantage,
                        r.received_at.timestamp() if r.received_at is not None else None,
                    )
                    for r in verdict.results
                ],
            )

    def _load_latest(self, db: sqlite3.Connection) -> dict[str, RegionVerdict]:
        latest = {}
        rows = db.execute(
            "SELECT v.id, v.region, v.status, v.decided_at, v.reasons FROM verdicts v"
            " JOIN (SELECT region, MAX(id) AS id FROM verdicts GROUP BY region) m ON m.id = v.id"
        ).fetchall()
        for verdict_id, region, status, decided_at, reasons in rows:
            results = [
                _result(row)
                for row in db.execute(
                    f"SELECT {_RESULT_COLUMNS} FROM results WHERE verdict_id = ? ORDER BY id",  # noqa: S608 (constant columns)
                    (verdict_id,),
                )
            ]
            latest[region] = RegionVerdict(
                region,
                RegionStatus(status),
                _time(decided_at),
                tuple(json.loads(reasons)),
                tuple(results),
            )
        return latest

    def _select_results(self, region: str, check: str | None, limit: int) -> list[CheckResult]:
        query = f"SELECT {_RESULT_COLUMNS} FROM results WHERE region = ?"  # noqa: S608 (constant columns)
        args: list[object] = [region]
        if check is not None:
            query += " AND check_name = ?"
            args.append(check)
        query += " ORDER BY started_at DESC, id DESC LIMIT ?"
        args.append(limit)
        return [_result(row) for row in self._conn().execute(query, args)]

    def _select_result_page(
        self,
        region: str,
        check: str | None,
        since: datetime | None,
        until: datetime | None,
        before: int | None,
        limit: int,
    ) -> list[tuple[int, CheckResult]]:
        query = f"SELECT id, {_RESULT_COLUMNS} FROM results WHERE region = ?"  # noqa: S608 (constant columns)
        args: list[object] = [region]
        for clause, value in (
            (" AND check_name = ?", check),
            (" AND started_at >= ?", since.timestamp() if since is not None else None),
            (" AND started_at < ?", until.timestamp() if until is not None else None),
            (" AND id < ?", before),
        ):
            if value is not None:
                query += clause
                args.append(value)
        # Rows are written in round order: the id is the order, and a cursor that never skips.
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [(row[0], _result(row[1:])) for row in self._conn().execute(query, args)]

    def _select_rounds(self, region: str, limit: int) -> list[RegionVerdict]:
        db = self._conn()
        rows = db.execute(
            "SELECT id, status, decided_at, reasons FROM verdicts WHERE region = ?"
            " ORDER BY decided_at DESC, id DESC LIMIT ?",
            (region, limit),
        ).fetchall()
        rounds = []
        for verdict_id, status, at, reasons in reversed(rows):
            results = [
                _result(row)
                for row in db.execute(
                    f"SELECT {_RESULT_COLUMNS} FROM results WHERE verdict_id = ? ORDER BY id",  # noqa: S608 (constant columns)
                    (verdict_id,),
                )
            ]
            rounds.append(
                RegionVerdict(
                    region,
                    RegionStatus(status),
                    _time(at),
                    tuple(json.loads(reasons)),
                    tuple(results),
                )
            )
        return rounds

    def _select_statuses(self, region: str, limit: int) -> list[tuple[RegionStatus, datetime]]:
        rows = self._conn().execute(
            "SELECT status, decided_at FROM verdicts WHERE region = ?"
            " ORDER BY decided_at DESC, id DESC LIMIT ?",
            (region, limit),
        )
        return [(RegionStatus(status), _time(at)) for status, at in rows]

    @staticmethod
    def _plan_outbox(db: sqlite3.Connection, channel: str, now: float, noise: Noise) -> Plan:
        made = plan(channel_pending(db, channel), last_sent(db, channel), now, noise)
        for row in made.rewritten:
            rewrite_event(db, row.seq, row.event)
        fold_rows(db, [(f.seq, f.into, f.state) for f in made.folds], now)
        return made

    def _run_in_transaction(self, fn: Callable[..., T], *args: object) -> T:
        return self._in_transaction(fn, *args)

    def _in_transaction(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        db = self._conn()
        with _transaction(db):
            return fn(db, *args, **kwargs)

    def _insert_intent(self, intent: dict[str, Any]) -> bool:
        # The intent must survive a crash of the machine, not only of the process: synced to
        # disk before the write it announces (WAL with synchronous=NORMAL syncs at checkpoints).
        db = self._conn()
        db.execute("PRAGMA synchronous=FULL")
        try:
            with _transaction(db):
                return insert_intent(db, **intent)
        finally:
            db.execute("PRAGMA synchronous=NORMAL")

    def _insert_events(self, events: Sequence[Event]) -> int:
        db = self._conn()
        with _transaction(db):
            if self.route_alerts is None:
                insert_events(db, events)
                return 0
            ids = [e.id for e in events]
            marks = ", ".join("?" * len(ids))
            known = {
                row[0]
                for row in db.execute(f"SELECT id FROM events WHERE id IN ({marks})", ids)  # noqa: S608 (placeholders only)
            }
            insert_events(db, events)
            fresh = [e for e in events if e.id not in known]
            return enqueue_alerts(db, fresh, self.route_alerts, self._clock.now().timestamp())

    def _select_events(self, query: EventQuery) -> list[StoredEvent]:
        return select_events(self._conn(), query)

    def _open_conditions(self) -> dict[str, Condition]:
        return open_conditions(self._conn())

    def _select_verdicts(self, region: str, limit: int) -> list[RegionVerdict]:
        rows = self._conn().execute(
            "SELECT region, status, decided_at, reasons FROM verdicts WHERE region = ?"
            " ORDER BY decided_at DESC, id DESC LIMIT ?",
            (region, limit),
        )
        return [
            RegionVerdict(r, RegionStatus(s), _time(t), tuple(json.loads(reasons)))
            for r, s, t, reasons in rows
        ]

    def _count_statuses(self, region: str, since: float) -> dict[RegionStatus, int]:
        rows = self._conn().execute(
            "SELECT status, COUNT(*) FROM verdicts WHERE region = ? AND decided_at >= ?"
            " GROUP BY status",
            (region, since),
        )
        return {RegionStatus(status): count for status, count in rows}

    def _insert_reading(self, reading: Reading) -> None:
        db = self._conn()
        with _transaction(db):
            profile = reading.profile
            cursor = db.execute(
                "INSERT INTO tm_readings (read_at, error, profile, routing_method, monitor_path)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    reading.read_at,
                    reading.error,
                    profile.name if profile is not None else None,
                    profile.routing_method if profile is not None else None,
                    profile.monitor.path if profile is not None else None,
                ),
            )
            if profile is not None:
                db.executemany(
                    "INSERT INTO tm_endpoints (reading_id, endpoint, endpoint_status, monitor_status,"
                    " target, geo_mapping, always_serve) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            cursor.lastrowid,
                            e.name,
                            e.endpoint_status.value,
                            e.monitor_status.value if e.monitor_status is not None else None,
                            e.target,
                            json.dumps(list(e.geo_mapping)),
                            int(e.always_serve),
                        )
                        for e in profile.endpoints
                    ],
                )

    def _select_readings(self, endpoint: str, limit: int) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT r.read_at, r.error, e.endpoint_status, e.monitor_status, e.target"
            " FROM tm_readings r LEFT JOIN tm_endpoints e"
            " ON e.reading_id = r.id AND e.endpoint = ? COLLATE NOCASE"
            " ORDER BY r.read_at DESC, r.id DESC LIMIT ?",
            (endpoint, limit),
        )
        return [
            {
                "read_at": _time(read_at).isoformat(),
                "error": error,
                "endpoint_status": status,
                "monitor_status": monitor,
                "target": target,
            }
            for read_at, error, status, monitor, target in rows
        ]

    def _insert_dns(self, checked_at: float, findings: Sequence[DnsFinding]) -> None:
        db = self._conn()
        with _transaction(db):
            db.executemany(
                "INSERT INTO dns_results (checked_at, resolver, vantage, status, region,"
                " expected_region, addresses, hops, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        checked_at,
                        f.answer.resolver,
                        f.answer.vantage,
                        f.status.value,
                        f.region,
                        f.expected_region,
                        json.dumps(f.answer.addresses),
                        json.dumps([[h.name, h.target, h.ttl] for h in f.answer.hops]),
                        f.reason,
                    )
                    for f in findings
                ],
            )

    def _select_dns(self, resolver: str, vantage: str | None, limit: int) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT checked_at, status, region, expected_region, addresses, reason"
            " FROM dns_results WHERE resolver = ? AND vantage IS ?"
            " ORDER BY checked_at DESC, id DESC LIMIT ?",
            (resolver, vantage, limit),
        )
        return [
            {
                "checked_at": _time(at).isoformat(),
                "status": status,
                "region": region,
                "expected_region": expected,
                "addresses": json.loads(addresses),
                "reason": reason,
            }
            for at, status, region, expected, addresses, reason in rows
        ]

    def _delete_before(self, cutoff: float, audit_cutoff: float) -> int:
        db = self._conn()
        with _transaction(db):
            db.execute("DELETE FROM dns_results WHERE checked_at < ?", (cutoff,))
            db.execute("DELETE FROM tm_readings WHERE read_at < ?", (cutoff,))
            # results and tm_endpoints go with their parents (ON DELETE CASCADE).
            deleted = db.execute("DELETE FROM verdicts WHERE decided_at < ?", (cutoff,)).rowcount
            prune_events(db, cutoff)
            prune_outbox(db, cutoff)
            prune_audit(db, audit_cutoff)
        return deleted


def _one_line(error: object) -> str:
    """SQLite's message on one line, without quick_check's "*** in database main ***" prefix."""
    text = " ".join(str(error).split())
    return text.removeprefix("*** in database main *** ")


_RESULT_COLUMNS = (
    "region, check_name, kind, outcome, reason, on_failure, failure_class, latency_ms,"
    " started_at, duration_ms, facts, vantage, received_at"
)


def _result(row: tuple[Any, ...]) -> CheckResult:
    (
        region,
        check,
        kind,
        outcome,
        reason,
        on_failure,
        failure_class,
        latency,
        started,
        duration,
        facts,
        vantage,
        received_at,
    ) = row
    known = json.loads(str(facts))
    release = known.get("release") if isinstance(known, dict) else None
    return CheckResult(
        check=str(check),
        kind=str(kind),
        region=str(region),
        outcome=Outcome(outcome),
        started_at=_time(float(started)),
        duration=timedelta(milliseconds=float(duration)),
        reason=str(reason),
        on_failure=OnFailure(on_failure),
        failure_class=FailureClass(failure_class) if failure_class else None,
        latency_ms=float(latency) if latency is not None else None,
        facts=known,
        release=release if isinstance(release, str) else None,
        vantage=str(vantage),
        received_at=_time(float(received_at)) if received_at is not None else None,
    )


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN … COMMIT, or ROLLBACK and re-raise: a failed write must not leave the connection
    inside an open transaction, holding the write lock and refusing every later BEGIN.
    SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR): then ROLLBACK
    would fail and hide the error that matters."""
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _time(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
