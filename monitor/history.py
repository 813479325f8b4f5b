"""The stored history read back as evidence, for a replay: read-only, never locking, never
migrating, so it can run beside the decider that writes the store (SQLite's WAL lets readers
and the writer go on at once).

The history is a list of sources (`SOURCES`): each reads one stored stream between two times
and yields it as timed evidence, oldest first; the replay merges them in time order. A new
kind of stored evidence is one more source appended there.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.controls import Control, Controls
from monitor.controlstore import _COLUMNS as _CONTROL_COLUMNS
from monitor.controlstore import _control
from monitor.deploys import Deploy, DeploySource
from monitor.errors import StoreError
from monitor.evidence import (
    ControlsChanged,
    DeployMarked,
    Evidence,
    ManualCommand,
    RoundFinished,
    TrafficManagerRead,
)
from monitor.policy import REGIONWATCH, Action, is_hold_pin
from monitor.policy import Source as DecisionSource
from monitor.results import RegionStatus, RegionVerdict
from monitor.store import _RESULT_COLUMNS, MIGRATIONS, _one_line, _result
from monitor.trafficmanager.model import (
    EndpointState,
    EndpointStatus,
    MonitorConfig,
    MonitorStatus,
    ProfileState,
)
from monitor.trafficmanager.watch import Reading

__all__ = [
    "ORDER_COMMAND",
    "ORDER_CONTROLS",
    "ORDER_DEPLOY",
    "ORDER_OUTCOME",
    "ORDER_ROUND",
    "ORDER_TRAFFIC_MANAGER",
    "SOURCES",
    "Source",
    "Timed",
    "controls",
    "controls_in_force",
    "deploy_markers",
    "last_reading_before",
    "manual_commands",
    "open_history",
    "reading_lacks_details",
    "rounds",
    "rounds_before",
    "traffic_manager_reads",
]

# Evidence stamped with the same instant is applied in this order: a person's controls and
# commands first (they are taken between rounds), a deploy marker opens its window before the
# round it covers, and an action's outcome follows what decided it.
ORDER_CONTROLS = -2
ORDER_COMMAND = -1
ORDER_DEPLOY = 0
ORDER_ROUND = 1
ORDER_TRAFFIC_MANAGER = 2
ORDER_OUTCOME = 3


@dataclass(frozen=True, slots=True)
class Timed:
    """One item of stored evidence and when the decider applied it (as near as the store
    says); `order` breaks ties between sources, `seq` keeps a source's stored order."""

    at: datetime
    order: int
    seq: int
    evidence: Evidence

    @property
    def key(self) -> tuple[datetime, int, int]:
        return (self.at, self.order, self.seq)


Source = Callable[[sqlite3.Connection, datetime, datetime], Iterator[Timed]]
"""A stored stream: its evidence from `since` (inclusive) to `until` (exclusive), oldest first."""


def open_history(path: Path) -> sqlite3.Connection:
    """The store at `path`, opened read-only (no lock, no migration, no write), inside one read
    transaction so every source reads the same moment. Raises `StoreError`, one line naming
    the file and what to do, when it cannot be read or its schema is not this release's."""
    if not path.is_file():
        raise StoreError(
            f"the store at {path} does not exist: give the decider's storage.path "
            "(in the configuration, or with --store)"
        )
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as e:
        raise StoreError(f"the store at {path} cannot be opened for reading: {_one_line(e)}") from e
    try:
        db.execute("PRAGMA busy_timeout=5000")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute("BEGIN")
    except sqlite3.Error as e:
        db.close()
        raise StoreError(
            f"the store at {path} cannot be read ({_one_line(e)}): check that it is "
            "regionwatch's store and that this user may read it and its folder"
        ) from e
    if version != len(MIGRATIONS):
        db.close()
        newer = version > len(MIGRATIONS)
        raise StoreError(
            f"the store at {path} has schema version {version}, "
            + (
                f"newer than this release's {len(MIGRATIONS)}: replay it with that release"
                if newer
                else f"older than this release's {len(MIGRATIONS)}: let this release's "
                "regionwatch run open it once (it migrates the store), then replay"
            )
        )
    return db


def rounds(db: sqlite3.Connection, since: datetime, until: datetime) -> Iterator[Timed]:
    """Every region's rounds, with the results that decided them."""
    rows = db.execute(
        "SELECT id, region, status, decided_at, reasons FROM verdicts"
        " WHERE decided_at >= ? AND decided_at < ? ORDER BY decided_at, id",
        (since.timestamp(), until.timestamp()),
    )
    for verdict_id, region, status, decided_at, reasons in rows:
        verdict = _verdict(db, verdict_id, region, status, decided_at, reasons)
        yield Timed(verdict.decided_at, ORDER_ROUND, int(verdict_id), RoundFinished(verdict))


def traffic_manager_reads(
    db: sqlite3.Connection, since: datetime, until: datetime
) -> Iterator[Timed]:
    """Every read of Traffic Manager: the profile as the policy reads it, or the error."""
    rows = db.execute(
        "SELECT id, read_at, error, profile, routing_method, monitor_path FROM tm_readings"
        " WHERE read_at >= ? AND read_at < ? ORDER BY read_at, id",
        (since.timestamp(), until.timestamp()),
    )
    for row in rows:
        reading = _reading(db, row)
        yield Timed(
            _time(reading.read_at), ORDER_TRAFFIC_MANAGER, int(row[0]), TrafficManagerRead(reading)
        )


def deploy_markers(db: sqlite3.Connection, since: datetime, until: datetime) -> Iterator[Timed]:
    """The deploy markers posted. Detected deploys are left out: the policy detects them
    again from the rounds (with the candidate's `deploys.version_header`)."""
    rows = db.execute(
        "SELECT rowid, id, region, version, at, source, note, by FROM deploys"
        " WHERE source = ? AND at >= ? AND at < ? ORDER BY at, rowid",
        (DeploySource.MARKER.value, since.timestamp(), until.timestamp()),
    )
    for rowid, id_, region, version, at, source, note, by in rows:
        deploy = Deploy(
            str(id_), str(region), str(version), _time(at), DeploySource(source), str(note), str(by)
        )
        yield Timed(deploy.at, ORDER_DEPLOY, int(rowid), DeployMarked(deploy))


def controls(db: sqlite3.Connection, since: datetime, until: datetime) -> Iterator[Timed]:
    """Pins, silences and pauses started or ended by a person, each at its stored time; those
    started or ended at the same instant (a new pin replacing the old) as one change. What the
    engine does by itself is left out, since the replay's own fold does it again: the ends by
    regionwatch (`until` reached, a region recovered) and the pins held for a person who
    enabled again an endpoint regionwatch had disabled. Those holds are named for that person,
    and stored at the engine's time for the enable's outcome, a moment after the actuator's
    `finished_at` the replay applies it at: read back too, one would be a second pin, of
    another id, that the fold never ends."""
    rows = db.execute(
        f"SELECT seq, {_CONTROL_COLUMNS} FROM controls"  # noqa: S608 (constant columns)
        " WHERE (started_at >= ? AND started_at < ?) OR (ended_at >= ? AND ended_at < ?)"
        " ORDER BY seq",
        (since.timestamp(), until.timestamp()) * 2,
    )
    changes: dict[datetime, tuple[int, list[Control], list[Control]]] = {}
    for seq, *columns in rows:
        stored = _control(tuple(columns))
        if since <= stored.since < until and not is_hold_pin(stored):
            changes.setdefault(stored.since, (int(seq), [], []))[1].append(_as_started(stored))
        ended_at = stored.ended_at
        if ended_at is not None and since <= ended_at < until and stored.ended_by != REGIONWATCH:
            changes.setdefault(ended_at, (int(seq), [], []))[2].append(stored)
    for at, (seq, started, ended) in sorted(changes.items()):
        # One started and ended at the same instant was never in force.
        gone = {c.id for c in ended}
        begun = tuple(c for c in started if c.id not in gone)
        yield Timed(at, ORDER_CONTROLS, seq, ControlsChanged(begun, tuple(ended)))


def controls_in_force(db: sqlite3.Connection, at: datetime) -> Controls:
    """The pins, silences and pauses in force at `at` as a restart then would find them:
    started before it and not ended by then (those whose `until` had come are ended by the
    first evidence applied, as in the service), oldest first."""
    rows = db.execute(
        f"SELECT {_CONTROL_COLUMNS} FROM controls"  # noqa: S608 (constant columns)
        " WHERE started_at < ? AND (ended_at IS NULL OR ended_at >= ?) ORDER BY seq",
        (at.timestamp(), at.timestamp()),
    )
    return Controls(tuple(_as_started(_control(row)) for row in rows))


def manual_commands(db: sqlite3.Connection, since: datetime, until: datetime) -> Iterator[Timed]:
    """A person's commands (disable, enable, adopt) from the audit trail, each at the time it
    was decided and under its recorded id, for the policy to decide again."""
    rows = db.execute(
        "SELECT seq, id, action, region, reason, by, forced, decided_at FROM actions"
        " WHERE source != ? AND decided_at >= ? AND decided_at < ? ORDER BY decided_at, seq",
        (DecisionSource.POLICY.value, since.timestamp(), until.timestamp()),
    )
    for seq, id_, action, region, reason, by, forced, decided_at in rows:
        command = ManualCommand(
            str(id_), Action(action), str(region), str(reason), str(by), bool(forced)
        )
        yield Timed(_time(decided_at), ORDER_COMMAND, int(seq), command)


SOURCES: Sequence[Source] = (
    rounds,
    traffic_manager_reads,
    deploy_markers,
    controls,
    manual_commands,
)
"""The stored streams a replay folds, merged in time order."""


def rounds_before(
    db: sqlite3.Connection, region: str, before: datetime, *, limit: int
) -> list[RegionVerdict]:
    """A region's last `limit` rounds before `before`, oldest first."""
    rows = db.execute(
        "SELECT id, region, status, decided_at, reasons FROM verdicts"
        " WHERE region = ? AND decided_at < ? ORDER BY decided_at DESC, id DESC LIMIT ?",
        (region, before.timestamp(), limit),
    ).fetchall()
    return [_verdict(db, *row) for row in reversed(rows)]


def last_reading_before(db: sqlite3.Connection, before: datetime) -> Reading | None:
    """The last read of Traffic Manager before `before` that found the profile."""
    row = db.execute(
        "SELECT id, read_at, error, profile, routing_method, monitor_path FROM tm_readings"
        " WHERE read_at < ? AND error IS NULL ORDER BY read_at DESC, id DESC LIMIT 1",
        (before.timestamp(),),
    ).fetchone()
    return _reading(db, row) if row is not None else None


def reading_lacks_details(reading: Reading) -> bool:
    """A read recorded before the store kept the profile's routing method and geographic
    mappings: the guard rails that need them cannot be judged on it."""
    return reading.profile is not None and reading.profile.routing_method == ""


def _verdict(
    db: sqlite3.Connection, verdict_id: int, region: str, status: str, at: float, reasons: str
) -> RegionVerdict:
    results = [
        _result(row)
        for row in db.execute(
            f"SELECT {_RESULT_COLUMNS} FROM results WHERE verdict_id = ? ORDER BY id",  # noqa: S608 (constant columns)
            (verdict_id,),
        )
    ]
    return RegionVerdict(
        str(region), RegionStatus(status), _time(at), tuple(json.loads(reasons)), tuple(results)
    )


def _reading(db: sqlite3.Connection, row: tuple[Any, ...]) -> Reading:
    reading_id, read_at, error, name, routing, monitor_path = row
    if error is not None:
        return Reading(float(read_at), error=str(error))
    endpoints = tuple(
        EndpointState(
            name=str(endpoint),
            type_segment="ExternalEndpoints",
            target=target,
            endpoint_status=EndpointStatus(status),
            monitor_status=_monitor_status(monitor),
            geo_mapping=tuple(json.loads(geo)) if geo is not None else (),
            always_serve=bool(always),
        )
        for endpoint, status, monitor, target, geo, always in db.execute(
            "SELECT endpoint, endpoint_status, monitor_status, target, geo_mapping, always_serve"
            " FROM tm_endpoints WHERE reading_id = ? ORDER BY rowid",
            (reading_id,),
        )
    )
    profile = ProfileState(
        name=str(name or ""),
        routing_method=str(routing or ""),
        profile_status=None,
        fqdn=None,
        ttl=None,
        monitor=MonitorConfig(None, None, monitor_path, None, None, None),
        endpoints=endpoints,
    )
    return Reading(float(read_at), profile=profile)


def _as_started(control: Control) -> Control:
    """A stored control as it was when it started: in force, its end not yet known."""
    return replace(control, ended_at=None, ended_by=None, end_reason=None)


def _monitor_status(value: str | None) -> MonitorStatus | None:
    return next((s for s in MonitorStatus if s.value == value), None)


def _time(timestamp: float) -> datetime:
    return datetime.fromtimestamp(float(timestamp), UTC)
