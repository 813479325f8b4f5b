"""The composition root: everything is built once from the configuration by `build_service`,
owned by one async context, and the producers that feed the engine on a schedule.

`regionwatch run` and the lab enter it from the web app's lifespan; `regionwatch check` enters
it with `once=True` (an in-memory store, no schedule) and runs one of everything.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import structlog

from monitor.actuator import Actuator, WriteRetry
from monitor.alerts.alerting import Alerting
from monitor.alerts.heartbeat import Heartbeat
from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.controls import ControlKind, Controls
from monitor.dnsround import DnsRound
from monitor.engine import Engine, Publication
from monitor.events import Severity
from monitor.evidence import (
    AccessChecked,
    ActionFinished,
    AlertChannelChanged,
    DnsRoundFinished,
    GeographyRead,
    ManualCommand,
    PeersPulled,
    RoundFinished,
    SchedulerChanged,
    StoreHealthChanged,
    TrafficManagerRead,
)
from monitor.fold import first_snapshot, rebuild_streak
from monitor.outcomes import Outcomes
from monitor.peers import PeerPuller
from monitor.policy import (
    Action,
    Outcome_,
    PastAction,
    PolicyState,
    Source,
    disables_memory,
    restore_memory,
    restore_policy,
)
from monitor.probes.https import site_ssl_context
from monitor.quorum import PeerPull
from monitor.recorder import Recorder
from monitor.results import FailureClass, RegionStatus, RegionVerdict
from monitor.rounds import RoundRunner, build_probes
from monitor.scheduler import PeriodicJob, RoundScheduler
from monitor.snapshot import Snapshot
from monitor.store import Store
from monitor.trafficmanager.azure import AzureTrafficManager
from monitor.trafficmanager.port import TrafficManager
from monitor.trafficmanager.watch import Reading, check_access, read_geography, read_profile
from monitor.warnings import Warning, changes

__all__ = ["Service", "build_service"]

log = structlog.get_logger("monitor.service")

ACCESS_CHECK_EVERY = timedelta(hours=1)
# Azure's geographic hierarchy changes when a country is added, a few times a decade.
GEOGRAPHY_READ_EVERY = timedelta(days=1)
# How long a stop waits for jobs already running before cancelling them. A stop must be over
# within 10 s (well inside Kubernetes' 30 s grace period) whatever a dependency is doing:
# this, plus the HTTP drain before it and the engine's and the store's after it.
STOP_GRACE = timedelta(seconds=3)
ENGINE_STOP_GRACE = 1.0  # seconds for the engine, the recorder and each subscriber
# An action cut short stays `intended` and is reconciled at the next start.
ACTUATOR_STOP_GRACE = 2.0
# What the channels get to deliver what is due (`monitor.stopping` among it) before they stop.
ALERTS_STOP_GRACE = 2.0
# Rounds read back to rebuild a region's streak at start: longer streaks count this many.
STREAK_MEMORY = 1000


class Service:
    """The producers on their schedule, the engine they feed, and the store behind it.

    Readers take `snapshot` (whole, immutable) and read history from `store`; nothing here is
    for them to change.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock,
        store: Store,
        engine: Engine,
        rounds: RoundRunner,
        dns: DnsRound | None,
        traffic_manager: TrafficManager | None,
        rng: random.Random | None = None,
        heartbeat: Heartbeat | None = None,
        peers: PeerPuller | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.engine = engine
        self.rounds = rounds
        self.dns = dns
        self.traffic_manager = traffic_manager
        self.actuator: Actuator | None = None  # the decider's; observers and `check` have none
        self.alerting: Alerting | None = None  # with channels configured; `check` has none
        self.outcomes = Outcomes()
        self.heartbeat = heartbeat  # `alerting.heartbeat`; `check` has none
        self.peers = peers  # with peers configured; `check` has none
        periodic: list[PeriodicJob] = []
        if peers is not None:
            periodic.append(
                PeriodicJob(
                    "peers", "peers' observations", config.checks.https.interval, self.pull_peers
                )
            )
        if heartbeat is not None:
            periodic.append(
                PeriodicJob("heartbeat", "dead-man's switch", heartbeat.interval, heartbeat.beat)
            )
        if config.traffic_manager is not None and traffic_manager is not None:
            periodic += [
                PeriodicJob(
                    "traffic-manager",
                    "Traffic Manager read",
                    config.traffic_manager.interval,
                    self.read_traffic_manager,
                ),
                PeriodicJob(
                    "traffic-manager-access",
                    "Traffic Manager write access",
                    ACCESS_CHECK_EVERY,
                    self.check_access,
                ),
                PeriodicJob(
                    "traffic-manager-geography",
                    "Traffic Manager's geographic hierarchy",
                    GEOGRAPHY_READ_EVERY,
                    self.read_geography,
                ),
            ]
        if config.checks.dns is not None:
            periodic.append(
                PeriodicJob("dns", "DNS round", config.checks.dns.interval, self.run_dns)
            )
        https = config.checks.https
        self.scheduler = RoundScheduler(
            rounds.regions,
            interval=https.interval,
            jitter=https.effective_jitter,
            run_round=self.run_round,
            housekeeping=self.housekeeping,
            periodic=periodic,
            clock=clock,
            rng=rng,
        )

    @property
    def snapshot(self) -> Snapshot:
        """The engine's latest snapshot."""
        return self.engine.snapshot

    def start(self) -> None:
        """Start the schedule: the first rounds and reads begin at once."""
        if self.config.role == "observer" and self.config.alerts:
            # The decider alerts; observers sending the same would double every message.
            log.warning("alerts_not_sent_by_observers", channels=len(self.config.alerts))
        self.scheduler.start()
        self.engine.submit(SchedulerChanged(running=True))
        log.info("service_started", regions=self.rounds.regions, instance=self.snapshot.instance)

    async def stop(self) -> None:
        """Stop the schedule; rounds still running after the grace are cancelled."""
        if self.scheduler.running:
            await self.scheduler.shutdown(grace=self._stop_grace().total_seconds())
            self.engine.submit(SchedulerChanged(running=False, stopping=True))

    def _stop_grace(self) -> timedelta:
        """How long a job already running may still need, up to STOP_GRACE: let a round
        finish rather than cut it, unless it waits on something that does not answer."""
        longest = self.config.checks.https.timeout
        if self.config.checks.dns is not None:
            longest = max(longest, self.config.checks.dns.timeout)
        if self.traffic_manager is not None:
            longest = STOP_GRACE  # an SDK call can take 25 s (its deadline)
        return min(longest + timedelta(seconds=1), STOP_GRACE)

    async def run_round(self, region: str) -> RegionVerdict:
        """One round of `region`, handed to the engine."""
        verdict = await self.rounds.run(region)
        self.engine.submit(RoundFinished(verdict))
        log.debug(
            "round_finished",
            region=region,
            status=verdict.status.value,
            reasons=list(verdict.reasons),
        )
        return verdict

    async def pull_peers(self) -> None:
        """One pull of every peer's observations, applied; on the decider, a content failure
        a peer sees and this instance does not is probed again from here at once (content
        failures count on the decider's own word, never on an observer's alone)."""
        if self.peers is None:
            return
        pulls = await self.peers.pull()
        snapshot = await self.engine.apply(PeersPulled(pulls))
        if self.config.role != "decider":
            return
        for region in _to_probe_again(snapshot, pulls):
            log.info("region_probed_again", region=region, why="a peer sees a content failure")
            self.scheduler.run_now(region)

    async def read_traffic_manager(self) -> Snapshot:
        """One read of the profile, applied; returns the snapshot that holds it."""
        if self.traffic_manager is None:
            return self.snapshot
        reading = await read_profile(self.traffic_manager, self.clock)
        return await self.engine.apply(TrafficManagerRead(reading))

    async def check_access(self) -> None:
        """Whether this identity may write the profile's endpoints, applied."""
        if self.traffic_manager is not None:
            check = await check_access(self.traffic_manager, self.clock)
            self.engine.submit(AccessChecked(check))

    async def read_geography(self) -> None:
        """Traffic Manager's geographic hierarchy, kept in the snapshot when it could be read."""
        if self.traffic_manager is not None:
            hierarchy = await read_geography(self.traffic_manager)
            if hierarchy is not None:
                self.engine.submit(GeographyRead(hierarchy))

    async def run_dns(self) -> Snapshot:
        """One DNS round, judged with Traffic Manager's freshest view: before an answer is
        called a mismatch, Traffic Manager is read again (an endpoint disabled since the last
        read is a failover, not a false alarm), unless its last read failed (the answer is then
        unknown: a mismatch cannot be told from a failover)."""
        if self.dns is None:
            return self.snapshot
        tm = self.snapshot.traffic_manager
        if tm is None or self.traffic_manager is None:
            findings = await self.dns.run(None)
        else:

            async def read_again() -> Reading | None:
                current = self.snapshot.traffic_manager
                latest = current.latest if current is not None else None
                if latest is not None and latest.profile is None:
                    # Traffic Manager is failing: another read would most likely fail too, after
                    # up to its deadline, holding the round past its interval and adding to any
                    # throttling. The next scheduled read tries again.
                    return latest
                fresh = (await self.read_traffic_manager()).traffic_manager
                return fresh.latest if fresh is not None else None

            findings = await self.dns.run(tm.profile, refresh=read_again)
        return await self.engine.apply(DnsRoundFinished(self.clock.now(), tuple(findings)))

    async def housekeeping(self) -> None:
        try:
            deleted = await self.store.prune()
        except Exception:  # StoreError is told by the store's write health; a bug is logged
            log.debug("prune_failed", exc_info=True)
            return
        if deleted:
            log.info("history_pruned", rounds=deleted)

    async def command(
        self,
        *,
        action: Action,
        region: str,
        reason: str,
        by: str,
        force: bool = False,
        wait: float,
    ) -> tuple[str, ActionFinished | None]:
        """A person's command, handed to the engine as evidence: the policy decides it (with
        the guard rails, unless `force`) and the actuator carries it out like any decision.
        Returns the decision's id and the actuator's report, or None when it has not come
        within `wait` seconds (the command goes on; its record says how it ends)."""
        decision_id = secrets.token_hex(10)
        finished = self.outcomes.expect(decision_id)
        try:
            self.engine.submit(ManualCommand(decision_id, action, region, reason, by, force))
            try:
                return decision_id, await asyncio.wait_for(asyncio.shield(finished), wait)
            except TimeoutError:
                return decision_id, None
        finally:
            self.outcomes.forget(decision_id)

    async def run_once(self) -> Snapshot:
        """One round of every region and one Traffic Manager read, all at once, then one DNS
        round judged with that read: what `regionwatch check` reports."""
        await asyncio.gather(
            *(self.run_round(region) for region in self.rounds.regions),
            self.read_traffic_manager(),
        )
        await self.run_dns()
        return await self.engine.apply(SchedulerChanged(running=False))


@asynccontextmanager
async def build_service(
    config: Config,
    *,
    clock: Clock | None = None,
    ssl_context: ssl.SSLContext | None = None,
    traffic_manager: TrafficManager | None = None,
    once: bool = False,
    rng: random.Random | None = None,
    actuator_retry: WriteRetry | None = None,
) -> AsyncIterator[Service]:
    """Build the service from `config` and own everything it opens until the block ends.

    Opens the store (raising `StoreError`, one line naming the file and what to do, when it
    cannot be used) and restores what it remembers: each region's last verdict and streak,
    and the conditions still open. With `once`, the store is in memory and remembers nothing
    (`check` must not touch a running service's store). `actuator_retry` replaces the write's
    retries and their back-off (the defaults: `WriteRetry()`), for tests that must not wait. The clients (HTTP for DNS over HTTPS,
    the Azure SDK's) are created here and closed on the way out, after the engine has applied
    and recorded what was queued.
    """
    clock = clock or SystemClock()
    store_path = ":memory:" if once else config.storage.path
    # One decider per store: `run` and the lab lock theirs; `check` uses one of its own.
    store = Store(
        store_path,
        clock=clock,
        retention=config.storage.retention,
        audit_retention=config.storage.audit_retention,
        lock=not once,
    )
    await store.open()
    client: TrafficManager | None = None
    dns: DnsRound | None = None
    peers: PeerPuller | None = None
    heartbeat: Heartbeat | None = None
    try:
        now = clock.now()
        instance = config.vantage or socket.gethostname()
        first = first_snapshot(config, instance=instance, now=now)
        if not once:
            streaks = {}
            for region in config.regions:
                statuses = await store.recent_statuses(region, limit=STREAK_MEMORY)
                streak = rebuild_streak(statuses, gap=config.streak_gap)
                if streak is not None:
                    streaks[region] = streak
            # Controls not yet ended, those past their end included: the first item applied
            # ends them, with their events, rather than losing them here.
            controls = Controls(tuple(reversed(await store.controls(in_force=True, limit=10_000))))
            first = first_snapshot(
                config,
                instance=instance,
                now=now,
                verdicts=store.latest(),
                streaks=streaks,
                conditions=await store.open_conditions(),
                policy=await _restored_policy(config, store, now, controls),
                deploy_marked=await store.marker_posted(),
                controls=controls,
            )
        recorder = Recorder(store)
        alerting = None
        if not once and config.alerts and config.role == "decider":
            alerting = Alerting(config, store, clock=clock)
            recorder.unrecorded = alerting.unrecorded
        engine = Engine(config, clock=clock, first=first, recorder=recorder)
        if not once and config.alerting.heartbeat is not None:
            heartbeat = Heartbeat(
                config.alerting.heartbeat, snapshot=lambda: engine.snapshot, clock=clock
            )
        if alerting is not None:
            # No reminders about a region silenced now.
            alerting.silenced = lambda: {
                c.region
                for c in engine.snapshot.controls.active(ControlKind.SILENCE, clock.now())
                if c.region is not None
            }
        engine.subscribe("log", _log_events)
        engine.subscribe("warnings", _warning_log())
        store.writes.listen(lambda failure: engine.submit(StoreHealthChanged(failure)))
        if alerting is not None:
            alerting.listen(
                lambda channel, trouble: engine.submit(AlertChannelChanged(channel, trouble))
            )
        context = ssl_context or site_ssl_context(config)
        if config.traffic_manager is not None:
            client = traffic_manager or AzureTrafficManager(config.traffic_manager)
        if config.checks.dns is not None:
            dns = DnsRound(config, context, clock=clock)
        if config.peers and not once:
            peers = PeerPuller(config, context, clock=clock)
        vantage = config.vantage or "local"
        rounds = RoundRunner(
            build_probes(config, clock, context),
            clock,
            vantage=vantage,
            concurrency=config.checks.https.concurrency,
        )
        service = Service(
            config,
            clock=clock,
            store=store,
            engine=engine,
            rounds=rounds,
            dns=dns,
            traffic_manager=client,
            rng=rng,
            heartbeat=heartbeat,
            peers=peers,
        )
        service.alerting = alerting
        actuator = None
        if not once and config.role == "decider":
            actuator = Actuator(
                config,
                store=store,
                client=client,
                clock=clock,
                snapshot=lambda: engine.snapshot,
                submit=engine.submit,
                instance=instance,
                retry=actuator_retry,
            )
            engine.decisions = actuator.accept
            service.actuator = actuator
        engine.subscribe("outcomes", service.outcomes.handle)
        if alerting is not None:
            alerting.start()
        await engine.start()
        if actuator is not None:
            await actuator.start()
        try:
            yield service
        finally:
            await service.stop()
            if actuator is not None:
                await actuator.stop(grace=ACTUATOR_STOP_GRACE)
            await engine.stop(grace=ENGINE_STOP_GRACE)
            if alerting is not None:
                # After the engine: the events of the stop are in the outbox, for the next
                # start if not delivered now.
                await alerting.drain(ALERTS_STOP_GRACE)
                await alerting.stop()
            log.info("service_stopped")
    finally:
        if heartbeat is not None:
            await heartbeat.aclose()
        if client is not None:
            await client.close()
        if dns is not None:
            await dns.close()
        if peers is not None:
            await peers.close()
        await store.close()


def _to_probe_again(snapshot: Snapshot, pulls: tuple[PeerPull, ...]) -> list[str]:
    """The regions a peer just reported with a content failure while our own latest round
    of them did not fail."""
    regions = []
    for name, view in snapshot.regions.items():
        if view.status is RegionStatus.FAILING:
            continue
        if any(
            (o := pull.document.observations.get(name)) is not None
            and o.failure is FailureClass.CONTENT
            for pull in pulls
            if pull.document is not None
        ):
            regions.append(name)
    return regions


async def _restored_policy(
    config: Config, store: Store, now: datetime, controls: Controls
) -> PolicyState:
    """The failover policy as the store remembers it (see `monitor.policy.restore_policy`)."""
    memory = restore_memory(config)
    rounds = {region: await store.recent_rounds(region, limit=memory) for region in config.regions}
    carried = (Outcome_.DONE.value, Outcome_.DRY_RUN.value)
    records = {
        r.seq: r
        for r in await store.actions(since=now - disables_memory(config), limit=10_000)
        if r.status in carried
    }
    # Who holds an endpoint is the last action carried out on it, however old: a person's
    # disable (or one of ours) held for weeks is still theirs (ours) after a restart.
    for region in config.regions:
        last = None
        for status in carried:
            for r in await store.actions(region=region, status=status, limit=1):
                records[r.seq] = r
                last = r if last is None or r.seq > last.seq else last
        if (
            last is not None
            and last.action == Action.DISABLE.value
            and last.source == Source.POLICY.value
        ):
            # The flap limit is counted as of our disable holding it out, however old: the
            # disables within its window before that one.
            before = last.decided_at - disables_memory(config)
            records.update(
                (r.seq, r)
                for r in await store.actions(region=region, since=before, limit=10_000)
                if r.status in carried and r.seq <= last.seq
            )
    outcomes = [
        PastAction(
            r.region,
            Action(r.action),
            Outcome_(r.status),
            r.finished_at or r.decided_at,
            Source(r.source),
            r.by,
            r.reason,
        )
        for _, r in sorted(records.items())
    ]
    # Unfinished intents of any age: the actuator reconciles every one of them at start.
    intents = [
        (r.region, r.id, Action(r.action), r.decided_at)
        for r in reversed(await store.actions(status="intended", limit=1000))
    ]
    deploys = await store.deploys(since=now - config.failover.deploy_window - config.deploys.lead)
    return restore_policy(
        config,
        rounds=rounds,
        outcomes=outcomes,
        deploys=deploys,
        now=now,
        intents=intents,
        pins=[c for c in controls.items if c.kind is ControlKind.PIN],
    )


def _warning_log() -> Callable[[Publication], Awaitable[None]]:
    """A subscriber logging each warning once when it is raised (`warning_raised`; those
    known at start with the first item the engine applies, the scheduler's start) and once
    when it is cleared, not once per item."""
    logged: tuple[Warning, ...] = ()

    async def log_changes(publication: Publication) -> None:
        nonlocal logged
        raised, cleared = changes(logged, publication.snapshot.warnings)
        logged = publication.snapshot.warnings
        for warning in raised:
            level = "info" if warning.severity is Severity.INFO else "warning"
            getattr(log, level)(
                "warning_raised",
                code=warning.code,
                severity=warning.severity.value,
                subject=warning.subject,
                message=warning.text,
            )
        for warning in cleared:
            log.info("warning_cleared", code=warning.code, subject=warning.subject)

    return log_changes


async def _log_events(publication: Publication) -> None:
    """The log lines of state changes: one per event. A change that needs a person's eye
    (warning or critical) is a warning; error levels stay for the monitor's own failures,
    so an operator can alert on them without a watched region's trouble mixed in."""
    for event in publication.events:
        level = "info" if event.resolved or event.severity is Severity.INFO else "warning"
        getattr(log, level)(
            "event_recorded",
            type=event.type.value,
            severity=event.severity.value,
            region=event.region,
            summary=event.summary,
            id=event.id,
        )
