"""Carrying out the failover policy's decisions on Traffic Manager, exactly once.

For every decision, in the order they were made:
1. write ahead: the intent is recorded in the store, synced to disk, before anything else (no
   record, no write);
2. reconcile: Traffic Manager is read afresh; an endpoint already in the desired state makes
   the action done (an earlier attempt landed, or a person did it), not refused;
3. guard rails, again, on that fresh read (a disable only); and, before every attempt, the
   pause: while failover is paused nothing is written, never stranding users included (the
   decision is `refused` by `paused`, and decided again, afresh, once resumed);
4. one PATCH of `endpointStatus` per attempt; a retryable failure (429 with Retry-After, 5xx,
   a timeout) waits and starts again from 2, so a PATCH that landed but whose answer was lost
   is found done, never repeated; once a PATCH was sent, a read that fails is retried the same
   way (`failed` when the attempts are spent), never a refusal: the write may have landed;
5. the outcome is recorded and handed back to the engine as evidence.
After a crash, intents still `intended` are reconciled at start: carried out when recent,
`superseded` when older than a few intervals (decided again on fresh evidence, never replayed
blindly). In dry-run the same path runs against a Traffic Manager that writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from monitor.auditstore import ActionRecord
from monitor.clock import Clock
from monitor.config import Config
from monitor.errors import StoreError, TrafficManagerError
from monitor.evidence import ActionFinished, Evidence
from monitor.guardrails import Guard, Refusal, check_disable
from monitor.policy import Action, Decision, Outcome_, Source
from monitor.queues import drain_then_cancel
from monitor.snapshot import Snapshot
from monitor.store import Store
from monitor.trafficmanager.dryrun import DryRunTrafficManager
from monitor.trafficmanager.geography import BUILTIN
from monitor.trafficmanager.model import EndpointStatus, ProfileState
from monitor.trafficmanager.port import TrafficManager

__all__ = ["Actuator", "WriteRetry"]

log = structlog.get_logger("monitor.actuator")


@dataclass(frozen=True, slots=True)
class WriteRetry:
    """The write's retries: attempts in all, exponential back-off with jitter, Retry-After
    honoured up to a cap."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0


@dataclass(frozen=True, slots=True)
class _Result:
    outcome: Outcome_
    detail: str
    refusal: Refusal | None = None
    maybe_landed: bool = False  # failed after a PATCH was sent: Traffic Manager may have it


class Actuator:
    def __init__(
        self,
        config: Config,
        *,
        store: Store,
        client: TrafficManager | None,
        clock: Clock,
        snapshot: Callable[[], Snapshot],
        submit: Callable[[Evidence], None],
        instance: str,
        retry: WriteRetry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._config = config
        self._store = store
        self._client = client
        self._clock = clock
        self._snapshot = snapshot
        self._submit = submit
        self._instance = instance
        self._retry = retry or WriteRetry()
        self._sleep = sleep
        self._queue: asyncio.Queue[Decision | ActionRecord] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.dry_run = DryRunTrafficManager(client) if client is not None else None

    def accept(self, decisions: Sequence[Decision]) -> None:
        """The engine's decisions, queued in order; never dropped."""
        for decision in decisions:
            self._queue.put_nowait(decision)

    async def start(self) -> None:
        """Reconcile what a previous run left intended, then carry out decisions."""
        for record in reversed(await self._store.actions(status="intended", limit=1000)):
            self._queue.put_nowait(record)
        self._task = asyncio.create_task(self._run(), name="actuator")

    async def stop(self, *, grace: float) -> None:
        """Finish what is queued within `grace` seconds, then stop; an action cut short stays
        `intended` in the store and is reconciled at the next start."""
        if self._task is None:
            return
        await drain_then_cancel(self._queue, self._task, grace)
        self._task = None

    async def settle(self) -> None:
        """Wait until every decision queued so far is carried out (tests, `check`)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, Decision):
                    await self._carry_out(item)
                else:
                    await self._resume(item)
            except Exception:  # our bug: this decision is lost, never the actuator
                log.exception("action_crashed")
            finally:
                self._queue.task_done()

    async def _carry_out(self, decision: Decision) -> None:
        try:
            fresh = await self._store.record_intent(
                id=decision.id,
                region=decision.region,
                endpoint=decision.endpoint,
                action=decision.action.value,
                decided_at=decision.at,
                reason=decision.reason,
                evidence=dict(decision.evidence),
                mode="dry-run" if decision.dry_run else "enforce",
                urgent=decision.urgent,
                instance=self._instance,
                by=decision.by,
                forced=decision.forced,
                source=decision.source.value,
            )
        except StoreError as e:
            # No record, no write: the decision is reported failed and decided again later.
            self._report(
                decision, _Result(Outcome_.FAILED, f"the intent could not be recorded first: {e}")
            )
            return
        if not fresh:
            # The same decision twice: it is being carried out, or was; the policy must not
            # wait for a second answer that would never come.
            self._report(
                decision, _Result(Outcome_.SUPERSEDED, "the same decision was recorded already")
            )
            return
        if decision.refusal is not None:
            result = _Result(Outcome_.REFUSED, decision.refusal.detail, decision.refusal)
        else:
            result = await self._execute(decision)
        await self._finish(decision, result)

    async def _resume(self, record: ActionRecord) -> None:
        """An intent a previous run recorded and never finished."""
        decision = Decision(
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
        stale = self._clock.now() - record.decided_at > self._stale_after()
        if stale:
            result = _Result(
                Outcome_.SUPERSEDED,
                f"decided at {record.decided_at:%Y-%m-%d %H:%M:%S} UTC and not carried out before "
                "a restart: too old to carry out now; decided again on fresh evidence",
            )
        else:
            log.info("action_resumed", id=record.id, region=record.region, action=record.action)
            result = await self._execute(decision, attempted=record.attempts > 0)
        await self._finish(decision, result)

    def _stale_after(self) -> timedelta:
        return max(3 * self._config.checks.https.interval, timedelta(minutes=1))

    async def _execute(self, decision: Decision, *, attempted: bool = False) -> _Result:
        """Carry `decision` out; `attempted`: a PATCH was sent for it before a restart."""
        if decision.action is Action.ADOPT:
            return await self._adopt(decision)
        desired = (
            EndpointStatus.DISABLED if decision.action is Action.DISABLE else EndpointStatus.ENABLED
        )
        paused = self._paused()
        if paused is not None:
            return _Result(Outcome_.REFUSED, paused.detail, paused)
        if self._client is None:
            # The guard rails that need no Azure read, again just before /healthz turns.
            refusal = self._refusal(decision, None)
            if refusal is not None:
                return _Result(Outcome_.REFUSED, refusal.detail, refusal)
            answer = "503" if decision.action is Action.DISABLE else "200"
            return _Result(
                Outcome_.DRY_RUN if decision.dry_run else Outcome_.DONE,
                f"no traffic_manager section: /healthz answers {answer} for {decision.region}",
            )
        client: TrafficManager = self.dry_run if decision.dry_run and self.dry_run else self._client
        retry = self._retry
        last = ""
        written = False  # a PATCH was sent: it may have landed, whatever its answer said
        for attempt in range(1, retry.attempts + 1):
            try:
                profile = await self._client.profile()
            except TrafficManagerError as e:
                if not written:
                    refusal = Refusal(
                        Guard.UNREADABLE,
                        f"Traffic Manager could not be read just before the write: {e}",
                    )
                    return _Result(Outcome_.REFUSED, refusal.detail, refusal)
                # Not a refusal: an earlier attempt may have landed, and only a read can tell.
                # Called refused, the endpoint found Disabled later would seem someone else's.
                last = f"an earlier attempt may have landed, and Traffic Manager could not be read: {e}"
                if not e.retryable or attempt == retry.attempts:
                    break
                await self._sleep(self._delay(attempt, e.retry_after))
                continue
            endpoint = profile.endpoint(decision.endpoint)
            if endpoint is None:
                refusal = Refusal(
                    Guard.MISSING,
                    f"endpoint {decision.endpoint!r} is not in profile {profile.name!r}",
                )
                return _Result(Outcome_.REFUSED, refusal.detail, refusal)
            if endpoint.endpoint_status is desired:
                landed = attempt > 1 or attempted
                if decision.dry_run:
                    # Nothing was or would be written: taken as done, the policy would believe
                    # it holds a real disable, and never stranding users would write for real.
                    return _Result(
                        Outcome_.DRY_RUN,
                        f"{endpoint.name} is {desired.value} already: nothing would be written "
                        "(failover.mode: dry-run)",
                    )
                if decision.source is Source.MANUAL:
                    how = "nothing to write"
                    if decision.action is Action.DISABLE:
                        how = f"held by {decision.by} through regionwatch from now on"
                    return _Result(
                        Outcome_.DONE, f"{endpoint.name} was {desired.value} already ({how})"
                    )
                if decision.action is Action.DISABLE and not landed:
                    # No PATCH of ours was ever sent: a person disabled it between our decision
                    # and this read, so it is theirs, never ours to enable (docs/failover.md).
                    return _Result(
                        Outcome_.SUPERSEDED,
                        f"{endpoint.name} was Disabled already, by someone else: regionwatch "
                        "leaves it to them",
                    )
                how = "an earlier attempt had landed" if landed else "nothing to write"
                return _Result(Outcome_.DONE, f"{endpoint.name} is {desired.value} already ({how})")
            # The read may have taken long: a pause posted meanwhile stops this write too.
            refusal = self._paused() or self._refusal(decision, profile)
            if refusal is not None and written:
                # An earlier attempt was sent and may still land: stop here, but as failed and
                # maybe landed, so a late landing is read as ours, never as someone else's.
                return _Result(
                    Outcome_.FAILED,
                    f"{refusal.detail}; after {attempt - 1} attempt"
                    f"{'s' if attempt != 2 else ''}, the last may still land",
                    maybe_landed=not decision.dry_run,
                )
            if refusal is not None:
                return _Result(Outcome_.REFUSED, refusal.detail, refusal)
            if not decision.dry_run:
                await self._store.note_attempt(decision.id)
            written = True
            try:
                await client.set_status(endpoint, desired)
            except TrafficManagerError as e:
                last = str(e)
                log.warning(
                    "action_attempt_failed",
                    id=decision.id,
                    region=decision.region,
                    attempt=attempt,
                    error=last,
                    retryable=e.retryable,
                )
                if not e.retryable or attempt == retry.attempts:
                    break
                await self._sleep(self._delay(attempt, e.retry_after))
                continue
            if decision.dry_run:
                return _Result(
                    Outcome_.DRY_RUN,
                    f"would set {endpoint.name} {desired.value} (failover.mode: dry-run)",
                )
            return _Result(Outcome_.DONE, f"{endpoint.name} set {desired.value} in Traffic Manager")
        return _Result(
            Outcome_.FAILED,
            f"{last} (after {attempt} attempt{'s' if attempt != 1 else ''})",
            maybe_landed=written and not decision.dry_run,
        )

    def _paused(self) -> Refusal | None:
        """The pause in force now, as a refusal; None when failover is not paused."""
        pause = self._snapshot().controls.pause(self._clock.now())
        if pause is None:
            return None
        return Refusal(Guard.PAUSED, f"failover {pause.describe()}: nothing is written")

    async def _adopt(self, decision: Decision) -> _Result:
        """Take ownership of an endpoint a person disabled: no write, only a fresh read to
        prove it is Disabled (an Enabled one has nothing to adopt)."""
        if self._client is None:
            refusal = Refusal(
                Guard.CONFLICT, "no traffic_manager section: there is no endpoint to adopt"
            )
            return _Result(Outcome_.REFUSED, refusal.detail, refusal)
        try:
            profile = await self._client.profile()
        except TrafficManagerError as e:
            refusal = Refusal(
                Guard.UNREADABLE, f"Traffic Manager could not be read to adopt the endpoint: {e}"
            )
            return _Result(Outcome_.REFUSED, refusal.detail, refusal)
        endpoint = profile.endpoint(decision.endpoint)
        if endpoint is None:
            refusal = Refusal(
                Guard.MISSING, f"endpoint {decision.endpoint!r} is not in profile {profile.name!r}"
            )
            return _Result(Outcome_.REFUSED, refusal.detail, refusal)
        if endpoint.enabled:
            refusal = Refusal(
                Guard.CONFLICT,
                f"{endpoint.name} is Enabled in Traffic Manager: only a Disabled endpoint can "
                "be adopted",
            )
            return _Result(Outcome_.REFUSED, refusal.detail, refusal)
        return _Result(
            Outcome_.DONE,
            f"{endpoint.name} is Disabled in Traffic Manager: regionwatch owns it from now on "
            "and enables it once its region has recovered",
        )

    def _refusal(self, decision: Decision, profile: ProfileState | None) -> Refusal | None:
        """Every guard rail a disable fails, in one refusal; None when they pass, for an
        enable, for never stranding users, which waits for nothing, and for a person's
        forced disable."""
        if decision.action is not Action.DISABLE or decision.urgent or decision.forced:
            return None
        refusals = self._guard_rails(decision, profile)
        if not refusals:
            return None
        summary = "; ".join(r.detail for r in refusals)
        return Refusal(refusals[0].guard, summary, tuple(g for r in refusals for g in r.uncovered))

    def _guard_rails(self, decision: Decision, profile: ProfileState | None) -> list[Refusal]:
        snapshot = self._snapshot()
        policy = snapshot.policy
        tm = snapshot.traffic_manager
        out = [
            name
            for name, rp in (policy.regions.items() if policy else ())
            if rp.out_since is not None and name != decision.region
        ]
        return check_disable(
            config=self._config,
            region=decision.region,
            profile=profile,
            geography=tm.geography if tm is not None else BUILTIN,
            serving={name: view.status for name, view in snapshot.regions.items()},
            out=out,
            disables=policy.disables if policy else (),
            now=self._clock.now(),
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        retry = self._retry
        if retry_after is not None:
            return float(min(retry_after, retry.max_delay))
        delay: float = min(retry.base_delay * 2.0 ** (attempt - 1), retry.max_delay)
        return delay * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not security)

    async def _finish(self, decision: Decision, result: _Result) -> None:
        now = self._clock.now()
        refusal = result.refusal
        # A failure to record is told by the store's write health; the engine still hears it.
        with contextlib.suppress(StoreError):
            await self._store.finish_action(
                decision.id,
                status=result.outcome.value,
                detail=result.detail,
                finished_at=now,
                guard=refusal.guard.value if refusal else None,
                uncovered=refusal.uncovered if refusal else (),
            )
        log.info(
            "action_finished",
            id=decision.id,
            region=decision.region,
            action=decision.action.value,
            result=result.outcome.value,
            detail=result.detail,
        )
        self._report(decision, result, at=now)

    def _report(self, decision: Decision, result: _Result, *, at: datetime | None = None) -> None:
        refusal = result.refusal
        self._submit(
            ActionFinished(
                decision_id=decision.id,
                region=decision.region,
                action=decision.action,
                outcome=result.outcome,
                detail=result.detail,
                at=at or self._clock.now(),
                guard=refusal.guard if refusal else None,
                uncovered=refusal.uncovered if refusal else (),
                dry_run=decision.dry_run,
                urgent=decision.urgent,
                reason=decision.reason,
                maybe_landed=result.maybe_landed,
                source=decision.source,
                by=decision.by,
                forced=decision.forced,
            )
        )
