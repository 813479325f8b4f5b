"""Replay: the failover policy run again over the stored history with a candidate
configuration, to see what it would have done, and why, and where that differs from what was
decided.

The stored evidence (`monitor.history.SOURCES`: rounds, Traffic Manager reads, deploy markers,
the pins, silences and pauses a person started or ended, a person's commands) is merged in time
order and folded through the engine's own step (`monitor.fold.step`), each item at the time the
decider applied it. The actuator is simulated: a decision the recorded history holds too (the
same decision: the same id, or the same region, action, mode and reason within one HTTPS
interval; a person's command: its id and mode) ends as it ended then, at the time it ended; any
other lands at once, as done (enforce) or dry_run, or refused by the guard rail that withheld
it, or by the pause in force. Traffic Manager's recorded reads are seen as the candidate would
have left them: an endpoint the recorded decider held Disabled and the candidate did not is
read Enabled, and the reverse.

A person's commands are given to the candidate as they were recorded, and how each ended is
reported beside the policy's actions (`by_hand`), never compared with the recorded ones as the
policy's are: they are a person's decisions, not the candidate's.

The replay starts where the recorded service stood at `since`, as a restart at that moment
would (the policy and the controls in force restored from the store), and runs as one
continuous service to `until`. The store is opened read-only, without the decider's lock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.auditstore import ActionRecord, select_actions, select_deploys
from monitor.config import Config
from monitor.controls import ControlKind
from monitor.evidence import (
    ActionFinished,
    ControlsChanged,
    DeployMarked,
    ManualCommand,
    RoundFinished,
    TrafficManagerRead,
)
from monitor.fold import after_read, first_snapshot, step
from monitor.guardrails import Guard
from monitor.history import (
    ORDER_COMMAND,
    ORDER_CONTROLS,
    ORDER_OUTCOME,
    SOURCES,
    Timed,
    controls_in_force,
    last_reading_before,
    open_history,
    reading_lacks_details,
    rounds_before,
)
from monitor.policy import (
    REGIONWATCH,
    Action,
    Decision,
    Outcome_,
    PastAction,
    PolicyState,
    Source,
    restore_memory,
    restore_policy,
)
from monitor.snapshot import Snapshot, TrafficManagerView
from monitor.trafficmanager.model import EndpointStatus, MonitorStatus
from monitor.trafficmanager.watch import Reading

__all__ = [
    "DEFAULT_WINDOW",
    "ByHand",
    "Difference",
    "ReplayReport",
    "ReplayedAction",
    "replay",
    "replay_history",
]

DEFAULT_WINDOW = timedelta(days=7)
_END = datetime(9999, 1, 1, tzinfo=UTC)
# Every recorded action, however old, counts for who held which endpoint Disabled.
_ALL = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ReplayedAction:
    """One decision the candidate made, and how it ended in the replay. `recorded_id` names
    the recorded decision it is the same as (its outcome is then the recorded one)."""

    id: str
    region: str
    endpoint: str
    action: str  # disable, enable
    at: datetime
    reason: str
    mode: str  # enforce, dry-run
    urgent: bool
    result: str  # done, dry_run, refused, failed, superseded; intended: unfinished when recorded
    guard: str | None
    detail: str
    in_deploy_window: bool
    recorded_id: str | None = None
    recorded_at: datetime | None = None
    by: str = REGIONWATCH  # who decided: regionwatch, or the person who asked
    source: str = Source.POLICY.value  # policy, manual, adopt


@dataclass(frozen=True, slots=True)
class ByHand:
    """A person's command (disable, enable, adopt) from the audit trail, given to the candidate
    at the time it was decided, under its recorded id, and how it ended there (`replayed`:
    None when the candidate has no such region)."""

    recorded: ActionRecord
    replayed: ReplayedAction | None

    @property
    def as_recorded(self) -> bool:
        """Whether it ended in the replay as it ended then (mode, result, guard rail)."""
        replayed, recorded = self.replayed, self.recorded
        return replayed is not None and (replayed.mode, replayed.result, replayed.guard) == (
            recorded.mode,
            recorded.status,
            recorded.guard,
        )


@dataclass(frozen=True, slots=True)
class Difference:
    """Where the candidate and the recorded history part: an action only the candidate
    takes (`added`), one only the recorded decider took (`missing`), or the same action
    decided differently (`changed`: its mode, its result, its guard rail)."""

    kind: str  # added, missing, changed
    region: str
    action: str
    at: datetime
    detail: str
    replayed: ReplayedAction | None
    recorded: ActionRecord | None


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What the candidate would have done from `since` to `until`, the recorded decisions of
    that window (oldest first), and the differences, in time order: the policy's. A person's
    commands of the window are in `by_hand` (oldest first), never among the differences."""

    store: Path
    since: datetime
    until: datetime | None  # None: to the end of the history
    mode: str  # the candidate's failover.mode
    evidence: Mapping[str, int]  # items replayed, by kind
    actions: tuple[ReplayedAction, ...]
    recorded: tuple[ActionRecord, ...]
    differences: tuple[Difference, ...]
    notes: tuple[str, ...]  # what the replay could not judge as the decider did
    by_hand: tuple[ByHand, ...] = ()

    @property
    def same(self) -> bool:
        """Whether the candidate reproduces the recorded decisions."""
        return not self.differences


async def replay(
    config: Config, *, since: datetime, until: datetime | None = None, store: Path | None = None
) -> ReplayReport:
    """Replay the history in `store` (default: the candidate's `storage.path`) from `since` to
    `until` (default: the end of the history) with `config`; on a worker thread, the event
    loop keeps running. Raises `StoreError` when the store cannot be read."""
    path = Path(store) if store is not None else Path(config.storage.path)
    return await asyncio.to_thread(replay_history, config, path, since=since, until=until)


def replay_history(
    config: Config, path: Path, *, since: datetime, until: datetime | None = None
) -> ReplayReport:
    """`replay`, on the calling thread."""
    db = open_history(path)
    try:
        return _Replay(config, db, since, until or _END).run(path, until)
    finally:
        db.close()


class _Replay:
    def __init__(self, config: Config, db: sqlite3.Connection, since: datetime, until: datetime):
        self.config = config
        self.db = db
        self.since = since
        self.until = until
        self.tolerance = config.checks.https.interval
        every = list(reversed(select_actions(db, limit=_ALL)))  # oldest first
        window = [a for a in every if since <= a.decided_at < until]
        self.window = [a for a in window if a.source == Source.POLICY.value]
        self.unmatched = list(self.window)
        self.commands = [a for a in window if a.source != Source.POLICY.value]
        self.by_hand: dict[str, ReplayedAction] = {}  # by the command's (recorded) id
        self.held_recorded = _holds(every)
        self.held: dict[str, bool] = {}  # the candidate's, by endpoint (lower case)
        # Outcomes to come, by key (then in the order scheduled).
        self.queue: list[tuple[tuple[datetime, int, int], int, Timed]] = []
        self.counter = itertools.count()
        self.current: Timed | None = None  # the item being applied
        self.actions: list[ReplayedAction] = []
        self.counts: dict[str, int] = {}
        # By replayed decision id: the recorded one of the same region and action nearby that
        # it is not the same as (decided differently).
        self.related: dict[str, ActionRecord | None] = {}
        self.bare_reads = 0
        self.snapshot = self._start(every)

    # --- where it starts ----------------------------------------------------------------------

    def _start(self, every: Sequence[ActionRecord]) -> Snapshot:
        """The service as a restart at `since` would have found it."""
        config, since = self.config, self.since
        memory = restore_memory(config)
        before = {
            region: rounds_before(self.db, region, since, limit=memory) for region in config.regions
        }
        # Every action carried out before `since`, however old, as the service restores them:
        # who holds an endpoint is the last one (restore_policy keeps only recent disables).
        outcomes = [
            PastAction(
                a.region,
                Action(a.action),
                Outcome_(a.status),
                finished,
                Source(a.source),
                a.by,
                a.reason,
            )
            for a in every
            if a.status in (Outcome_.DONE.value, Outcome_.DRY_RUN.value)
            and (finished := a.finished_at or a.decided_at) < since
        ]
        unfinished = [
            a
            for a in every
            if a.decided_at < since and (a.finished_at is None or a.finished_at >= since)
        ]
        for record in unfinished:
            if record.finished_at is not None:
                self._schedule(_finished(record, _decision_of(record)), record.finished_at)
        lead = config.failover.deploy_window + config.deploys.lead
        deploys = [
            d
            for d in select_deploys(self.db, since=since - lead, limit=_ALL)
            if d.at < since and d.region in config.regions
        ]
        # The pins, silences and pause in force at `since`, as the service restores them.
        controls = controls_in_force(self.db, since)
        policy: PolicyState = restore_policy(
            config,
            rounds=before,
            outcomes=outcomes,
            deploys=deploys,
            now=since,
            intents=[(a.region, a.id, Action(a.action), a.decided_at) for a in unfinished],
            pins=[c for c in controls.items if c.kind is ControlKind.PIN],
        )
        latest = {region: verdicts[-1] for region, verdicts in before.items() if verdicts}
        snapshot = first_snapshot(
            config,
            instance="replay",
            now=since,
            verdicts=latest,
            policy=policy,
            controls=controls,
        )
        for endpoint, timeline in self.held_recorded.items():
            self.held[endpoint] = _held_at(timeline, since)
        reading = last_reading_before(self.db, since)
        if reading is not None and config.traffic_manager is not None:
            tm = after_read(snapshot.traffic_manager or TrafficManagerView(), reading)
            snapshot = replace(snapshot, traffic_manager=tm)
        return snapshot

    # --- the fold -----------------------------------------------------------------------------

    def run(self, path: Path, until: datetime | None) -> ReplayReport:
        stored: Iterator[Timed] = heapq.merge(
            *(source(self.db, self.since, self.until) for source in SOURCES),
            key=lambda item: item.key,
        )
        upcoming = next(stored, None)
        while upcoming is not None or self.queue:
            if self.queue and (upcoming is None or self.queue[0][0] <= upcoming.key):
                item = heapq.heappop(self.queue)[2]
            else:
                assert upcoming is not None
                item, upcoming = upcoming, next(stored, None)
            self._apply(item)
        return ReplayReport(
            store=path,
            since=self.since,
            until=until,
            mode=self.config.failover.mode,
            evidence=dict(self.counts),
            actions=tuple(self.actions),
            recorded=tuple(self.window),
            differences=tuple(sorted(self._differences(), key=lambda d: d.at)),
            notes=self._notes(),
            by_hand=tuple(ByHand(r, self.by_hand.get(r.id)) for r in self.commands),
        )

    def _apply(self, item: Timed) -> None:
        self.current = item
        evidence = item.evidence
        match evidence:
            case TrafficManagerRead(reading=reading):
                if self.config.traffic_manager is None:
                    return  # the candidate reads no Traffic Manager
                self.bare_reads += reading_lacks_details(reading)
                evidence = TrafficManagerRead(self._as_the_candidate_left_it(reading, item.at))
                self._count("traffic_manager_reads")
            case RoundFinished():
                self._count("rounds")
            case DeployMarked():
                self._count("deploy_markers")
            case ControlsChanged():
                self._count("control_changes")
            case ManualCommand():
                self._count("manual_commands")
            case ActionFinished(outcome=outcome, action=action, dry_run=dry_run):
                # Adopting writes nothing: the endpoint stays as a person left it.
                if outcome is Outcome_.DONE and not dry_run and action is not Action.ADOPT:
                    endpoint = self.config.endpoint_of(evidence.region).lower()
                    self.held[endpoint] = action is Action.DISABLE
        made = step(self.snapshot, evidence, config=self.config, now=item.at)
        self.snapshot = made.snapshot
        for decision in made.decisions:
            self._carry_out(decision)

    def _count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def _as_the_candidate_left_it(self, reading: Reading, at: datetime) -> Reading:
        """A recorded read with the endpoints the recorded decider held Disabled and the
        candidate did not read Enabled (Traffic Manager's own monitor status then unknown),
        and the reverse: what the candidate's own writes would have shown."""
        profile = reading.profile
        if profile is None:
            return reading
        endpoints = []
        for endpoint in profile.endpoints:
            key = endpoint.name.lower()
            recorded = _held_at(self.held_recorded.get(key, ()), at)
            candidate = self.held.get(key, False)
            if recorded and not candidate and not endpoint.enabled:
                endpoint = replace(
                    endpoint, endpoint_status=EndpointStatus.ENABLED, monitor_status=None
                )
            elif candidate and not recorded and endpoint.enabled:
                endpoint = replace(
                    endpoint,
                    endpoint_status=EndpointStatus.DISABLED,
                    monitor_status=MonitorStatus.DISABLED,
                )
            endpoints.append(endpoint)
        return replace(reading, profile=replace(profile, endpoints=tuple(endpoints)))

    # --- the simulated actuator ---------------------------------------------------------------

    def _carry_out(self, decision: Decision) -> None:
        by_hand = decision.source is not Source.POLICY
        same, related = self._command_as(decision) if by_hand else self._recorded_as(decision)
        pause = self.snapshot.controls.pause(decision.at)
        if same is not None:
            finished = same.finished_at
            result, detail, guard = same.status, same.detail, same.guard
        elif decision.refusal is not None:
            finished = decision.at
            result, detail = Outcome_.REFUSED.value, decision.refusal.detail
            guard = decision.refusal.guard.value
        elif pause is not None and decision.action is not Action.ADOPT:
            # The actuator checks the pause before every write (adopting writes nothing).
            finished = decision.at
            result, detail = (
                Outcome_.REFUSED.value,
                f"failover {pause.describe()}: nothing is written",
            )
            guard = Guard.PAUSED.value
        else:
            finished = decision.at
            result = (Outcome_.DRY_RUN if decision.dry_run else Outcome_.DONE).value
            verb = "would be" if decision.dry_run else "taken as"
            detail = f"{verb} done in the replay"
            if not by_hand:
                detail += ": not decided so in the recorded history"
            guard = None
        deploy = decision.evidence.get("deploy") if decision.action is Action.DISABLE else None
        replayed = ReplayedAction(
            id=decision.id,
            region=decision.region,
            endpoint=decision.endpoint,
            action=decision.action.value,
            at=decision.at,
            reason=decision.reason,
            mode="dry-run" if decision.dry_run else "enforce",
            urgent=decision.urgent,
            result=result,
            guard=guard,
            detail=detail,
            in_deploy_window=deploy is not None,
            recorded_id=same.id if same is not None else None,
            recorded_at=same.decided_at if same is not None else None,
            by=decision.by,
            source=decision.source.value,
        )
        if by_hand:
            self.by_hand[decision.id] = replayed
        else:
            self.actions.append(replayed)
            self.related[decision.id] = related
        if result == "intended" or finished is None:
            return  # never finished in the recorded history: still waiting at its end
        outcome = ActionFinished(
            decision_id=decision.id,
            region=decision.region,
            action=decision.action,
            outcome=Outcome_(result),
            detail=detail,
            at=finished,
            guard=Guard(guard) if guard is not None else None,
            dry_run=decision.dry_run,
            urgent=decision.urgent,
            reason=decision.reason,
            source=decision.source,
            by=decision.by,
            forced=decision.forced,
        )
        self._schedule(outcome, max(finished, decision.at))

    def _schedule(self, outcome: ActionFinished, at: datetime) -> None:
        """`outcome` applied at `at`: after the rest of that instant's rounds and reads, but
        right after a person's change or command that decided it at that very instant, before
        whatever that person did next (they are answered with the outcome)."""
        seq = next(self.counter)
        cause = self.current
        if cause is not None and cause.at == at and cause.order in (ORDER_CONTROLS, ORDER_COMMAND):
            timed = Timed(at, cause.order, cause.seq, outcome)
        else:
            timed = Timed(at, ORDER_OUTCOME, seq, outcome)
        heapq.heappush(self.queue, (timed.key, seq, timed))

    def _command_as(self, decision: Decision) -> tuple[ActionRecord | None, ActionRecord | None]:
        """A person's command is the recorded one of its id when decided in the same mode;
        else it was decided differently (`related`)."""
        mode = "dry-run" if decision.dry_run else "enforce"
        recorded = next((r for r in self.commands if r.id == decision.id), None)
        if recorded is not None and recorded.mode == mode:
            return recorded, None
        return None, recorded

    def _recorded_as(self, decision: Decision) -> tuple[ActionRecord | None, ActionRecord | None]:
        """The recorded decision this one is (its id; or its region, action, mode and reason
        within one HTTPS interval), else the nearest recorded one of the same region and
        action within that interval (`related`: the same action, decided differently)."""
        mode = "dry-run" if decision.dry_run else "enforce"
        near = [
            r
            for r in self.unmatched
            if r.region == decision.region
            and r.action == decision.action.value
            and abs(r.decided_at - decision.at) <= self.tolerance
        ]
        near.sort(key=lambda r: abs(r.decided_at - decision.at))
        same = next((r for r in near if r.id == decision.id and r.mode == mode), None)
        if same is None:
            same = next((r for r in near if r.mode == mode and r.reason == decision.reason), None)
        chosen = same or (near[0] if near else None)
        if chosen is not None:
            self.unmatched.remove(chosen)
        return same, (None if same is not None else chosen)

    # --- the comparison -----------------------------------------------------------------------

    def _differences(self) -> Iterator[Difference]:
        for action in self.actions:
            if action.recorded_id is not None:
                continue
            related = self.related.get(action.id)
            if related is None:
                yield Difference(
                    "added",
                    action.region,
                    action.action,
                    action.at,
                    f"the candidate would have {_did(action)} {action.region} at "
                    f"{_clock(action.at)}; the recorded history has no such decision",
                    action,
                    None,
                )
                continue
            yield Difference(
                "changed",
                action.region,
                action.action,
                action.at,
                f"{action.action} of {action.region} at {_clock(action.at)}: recorded "
                f"{_ended(related.mode, related.status, related.guard)}, the candidate "
                f"{_ended(action.mode, action.result, action.guard)}",
                action,
                related,
            )
        for record in self.unmatched:
            if record.decided_at < self.since:
                continue
            yield Difference(
                "missing",
                record.region,
                record.action,
                record.decided_at,
                f"recorded: {record.action} of {record.region} at {_clock(record.decided_at)} "
                f"({_ended(record.mode, record.status, record.guard)}); the candidate would not "
                "have decided it",
                None,
                record,
            )

    def _notes(self) -> tuple[str, ...]:
        notes = []
        if self.bare_reads:
            notes.append(
                f"{self.bare_reads} Traffic Manager read(s) were recorded by an earlier release, "
                "without the profile's routing method and geographic mappings: the coverage "
                "guard rail could not be judged on them"
            )
        return tuple(notes)


def _decision_of(record: ActionRecord) -> Decision:
    """A recorded decision as the policy made it (for its outcome's evidence)."""
    return Decision(
        id=record.id,
        action=Action(record.action),
        region=record.region,
        endpoint=record.endpoint,
        at=record.decided_at,
        reason=record.reason,
        evidence=record.evidence,
        dry_run=record.mode == "dry-run",
        urgent=record.urgent,
        by=record.by,
        source=Source(record.source),
        forced=record.forced,
    )


def _finished(record: ActionRecord, decision: Decision) -> ActionFinished:
    assert record.finished_at is not None
    return ActionFinished(
        decision_id=record.id,
        region=record.region,
        action=decision.action,
        outcome=Outcome_(record.status),
        detail=record.detail,
        at=record.finished_at,
        guard=Guard(record.guard) if record.guard is not None else None,
        dry_run=decision.dry_run,
        urgent=record.urgent,
        reason=record.reason,
        source=decision.source,
        by=decision.by,
        forced=decision.forced,
    )


def _holds(records: Sequence[ActionRecord]) -> dict[str, list[tuple[datetime, bool]]]:
    """When the recorded decider held each endpoint Disabled in Traffic Manager: its disables
    and enables carried out in enforce mode (a person's through it included; adopting writes
    nothing), by endpoint (lower case), oldest first."""
    timelines: dict[str, list[tuple[datetime, bool]]] = {}
    for record in records:
        if (
            record.status != Outcome_.DONE.value
            or record.mode != "enforce"
            or record.action == Action.ADOPT.value
        ):
            continue
        at = record.finished_at or record.decided_at
        timelines.setdefault(record.endpoint.lower(), []).append(
            (at, record.action == Action.DISABLE.value)
        )
    for timeline in timelines.values():
        timeline.sort(key=lambda change: change[0])
    return timelines


def _held_at(timeline: Sequence[tuple[datetime, bool]], at: datetime) -> bool:
    held = False
    for when, disabled in timeline:
        if when > at:
            break
        held = disabled
    return held


def _did(action: ReplayedAction) -> str:
    verb = {"disable": "disabled", "enable": "enabled"}.get(action.action, action.action)
    if action.result == Outcome_.REFUSED.value:
        return f"decided and refused ({action.guard}) to {action.action}"
    if action.mode == "dry-run":
        return f"recorded that it would have {verb}"
    return verb


def _ended(mode: str, result: str, guard: str | None) -> str:
    refused = f" by {guard}" if guard else ""
    return f"{result}{refused} in {mode}"


def _clock(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"
