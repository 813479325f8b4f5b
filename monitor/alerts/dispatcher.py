"""Delivering one channel's alerts from the outbox: one task per channel, owned by the service.

Per lane (the event's region) alerts go strictly in order: only a lane's oldest pending row is
attempted, so a "recovered" never overtakes its "failing" (a problem held for grouping steps
aside, its own rows waiting with it: `monitor.alerts.grouping`). Lanes do not wait for each other's
backoff. A retryable failure (timeout, connection, 5xx, 429) is tried again after a capped
exponential backoff with jitter, or after the receiver's `Retry-After`; a permanent one (another
4xx), or a row whose retry budget is spent, becomes a dead letter and the lane moves on. Rows
are read from the store each time, so a restart delivers whatever is still pending: at least
once, with the row's idempotency key. Whatever else a notifier raises (a bug) makes its alert a
dead letter, and a pass that fails unexpectedly is logged and tried again: the channel's task
never ends before its stop.

The noise rules (docs/alerts.md#noise: grouping, folding, reminders) are applied to the
outbox before each pass (`monitor.alerts.grouping`, `monitor.alerts.reminders`): their state
is in the outbox rows, so they too survive a restart.

When an event could not be stored (the store failing), its alerts are handed to `remember`
and delivered from memory, first, with the same retries: they are lost only if the process
stops before they are delivered (the store's failure has raised `monitor.blind` meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import traceback
from collections import deque
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import structlog

from monitor.alerts.grouping import Noise
from monitor.alerts.health import ChannelStatus
from monitor.alerts.notifier import Alert, Notifier, NotifyError
from monitor.alerts.outbox import OutboxRow
from monitor.clock import Clock
from monitor.errors import StoreError
from monitor.store import Store

__all__ = ["Backoff", "Dispatcher"]

log = structlog.get_logger("monitor.alerts")

# How long the task sleeps at most with nothing due: the clock is read again then.
_IDLE = 1.0
# How often `drain` looks whether what was due has gone.
_DRAIN_POLL = 0.02
# How often, at least, the outbox is searched for reminders due (seconds): the search reads
# every problem the channel was sent, so not on every pass.
_REMIND_RECHECK = 60.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry policy: `first` doubled per attempt up to `cap`, each delay drawn in its upper
    half (jitter, so many monitors do not retry in step); a row first attempted longer than
    `budget` ago is given up."""

    first: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(seconds=30)
    budget: timedelta = timedelta(hours=1)
    # A receiver's Retry-After is honoured up to this (a misconfigured one must not park a lane).
    longest_wait: timedelta = timedelta(minutes=15)

    def delay(self, attempts: int, rng: random.Random, retry_after: float | None) -> float:
        """Seconds before the next attempt after `attempts` failed ones."""
        if retry_after is not None:
            return min(retry_after, self.longest_wait.total_seconds())
        ceiling = min(self.cap.total_seconds(), self.first.total_seconds() * 2 ** (attempts - 1))
        return rng.uniform(ceiling / 2, ceiling)


class Dispatcher:
    """Delivers `notifier`'s channel from `store`'s outbox until stopped."""

    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        *,
        clock: Clock,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        link: str | None = None,
        noise: Noise | None = None,
        silenced: Callable[[], AbstractSet[str]] = frozenset,
    ) -> None:
        """`noise`: grouping, folding and reminders (none by default); `silenced`: the
        regions silenced now, which are not reminded of."""
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
        self._link = link
        self._noise = noise or Noise()
        self._silenced = silenced
        self._remind_at: float | None = None  # None: search for reminders on the next pass
        self._remind_due: float | None = None  # when the next reminder falls due, if any
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._memory: deque[OutboxRow] = deque()
        self.channel = notifier.name
        # Updated on every attempt's result: what the API, the dashboard and the metrics show.
        self.status = ChannelStatus(self.channel)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"alerts-{self.channel}")

    def wake(self) -> None:
        """Look at the outbox now: alerts were queued, or the clock moved."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop at once: an attempt in flight is abandoned and stays pending (the receiver may
        get it twice, and deduplicates on its key)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._memory:
            # Their events were never stored: nothing else remembers them.
            log.error("alerts_lost_at_stop", channel=self.channel, count=len(self._memory))
        await self._notifier.aclose()

    async def drain(self, grace: float) -> None:
        """Give what is due now a chance to go before a stop: return once nothing due is left
        (delivered, dead-lettered or backing off), or after `grace` seconds. What is still
        pending stays in the outbox for the next start."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                while await self._due():
                    self.wake()
                    await asyncio.sleep(_DRAIN_POLL)

    async def _due(self) -> bool:
        now = self._clock.now().timestamp()
        if self._memory and self._memory[0].next_at <= now:
            return True
        try:
            # The plan, not the lanes' heads: a row held for grouping is not due.
            plan = await self._store.outbox_plan(self.channel, now, self._noise)
        except StoreError:
            return False  # nothing to deliver from while the store fails
        return bool(plan.due)

    def remember(self, rows: list[OutboxRow]) -> None:
        """Alerts whose events the store could not take: delivered from memory, in order."""
        self._memory.extend(rows)
        self.wake()

    @property
    def in_memory(self) -> int:
        """Alerts held in memory only (their events could not be stored)."""
        return len(self._memory)

    async def run_once(self) -> float | None:
        """Apply the noise rules, attempt every lane's head that is due, and queue the
        reminders due; return the seconds until something is next due (a row, the end of a
        group's window, a reminder; None: nothing pending or coming)."""
        waits = []
        while self._memory:
            wait = await self._memory_head()
            if wait is not None:
                waits.append(wait)
                break
        now = self._clock.now().timestamp()
        plan = await self._store.outbox_plan(self.channel, now, self._noise)
        for row in plan.due:
            await self._attempt(row)
        now = self._clock.now().timestamp()
        every = self._noise.remind_every
        if every is not None:
            if self._remind_at is None or now >= self._remind_at:
                # After the attempts: what they delivered sets when its reminder falls due.
                self._remind_due = await self._store.outbox_remind(
                    self.channel, now, every, self._silenced()
                )
                # Searched again when the next reminder falls due, or after a delivery (which
                # sets when its own falls due), or within a minute at most: a reminder held
                # back by a silence goes soon after the silence ends.
                later = (
                    now + every.total_seconds() if self._remind_due is None else self._remind_due
                )
                self._remind_at = min(later, now + _REMIND_RECHECK)
            if self._remind_due is not None:
                waits.append(max(0.0, self._remind_due - now))
        plan = await self._store.outbox_plan(self.channel, now, self._noise)
        if plan.wait is not None:
            waits.append(plan.wait)
        return min(waits) if waits else None

    async def _memory_head(self) -> float | None:
        """Attempt the first alert held in memory when due: None when it is done (delivered
        or given up), else the seconds until it is due again."""
        row = self._memory[0]
        now = self._clock.now().timestamp()
        if row.next_at > now:
            return row.next_at - now
        try:
            await self._send(row)
        except NotifyError as e:
            spent = now - row.created_at >= self._backoff.budget.total_seconds()
            if e.retryable and not spent:
                delay = self._backoff.delay(row.attempts + 1, self._rng, e.retry_after)
                self._memory[0] = replace(row, attempts=row.attempts + 1, next_at=now + delay)
                self.status.failed(self._clock.now(), str(e))
                return delay
            log.error("alert_lost", channel=self.channel, key=row.key, error=str(e))
            self.status.dead(self._clock.now(), str(e))
        else:
            log.info("alert_delivered", channel=self.channel, key=row.key, from_memory=True)
            self.status.delivered(self._clock.now())
        self._memory.popleft()
        return None

    def _message(self, row: OutboxRow) -> Alert:
        return Alert(key=row.key, channel=row.channel, event=row.event, link=self._link)

    async def _send(self, row: OutboxRow) -> None:
        """One attempt; whatever else a notifier raises (a bug) is a final `NotifyError`: the
        alert becomes a dead letter, said in the log, and the channel goes on."""
        try:
            await self._notifier.send(self._message(row))
        except NotifyError:
            raise
        except Exception as e:
            # The class and where, never the text: it may quote the channel's URL or key.
            raise NotifyError(
                f"{self.channel}: failed unexpectedly ({type(e).__name__} at {_where(e)})",
                retryable=False,
            ) from None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = await self.run_once()
            except StoreError:
                wait = _IDLE  # the store's write health says why; try again shortly
            except Exception as e:
                # A bug must not end the channel's delivery silently: said, and tried again.
                log.error(
                    "alerts_pass_failed",
                    channel=self.channel,
                    error=f"{type(e).__name__} at {_where(e)}",
                )
                wait = _IDLE
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_IDLE if wait is None else min(wait, _IDLE)):
                    await self._wake.wait()

    async def _attempt(self, row: OutboxRow) -> None:
        try:
            await self._send(row)
        except NotifyError as e:
            await self._failed(row, e)
            return
        await self._store.outbox_finish(row.seq, dead=False)
        self.status.delivered(self._clock.now())
        self._remind_at = None
        log.info(
            "alert_delivered",
            channel=self.channel,
            key=row.key,
            type=row.event.get("type"),
            region=row.event.get("region"),
            attempts=row.attempts + 1,
        )

    async def _failed(self, row: OutboxRow, error: NotifyError) -> None:
        now = self._clock.now().timestamp()
        attempts = row.attempts + 1
        spent = now - row.created_at >= self._backoff.budget.total_seconds()
        if not error.retryable or spent:
            await self._store.outbox_finish(row.seq, dead=True, error=str(error))
            self.status.dead(self._clock.now(), str(error))
            log.warning(
                "alert_dead_lettered",
                channel=self.channel,
                key=row.key,
                type=row.event.get("type"),
                region=row.event.get("region"),
                attempts=attempts,
                error=str(error),
                reason="retry budget spent" if error.retryable else "refused by the receiver",
            )
            return
        delay = self._backoff.delay(attempts, self._rng, error.retry_after)
        await self._store.outbox_postpone(row.seq, now + delay, str(error))
        self.status.failed(self._clock.now(), str(error))
        log.info(
            "alert_attempt_failed",
            channel=self.channel,
            key=row.key,
            attempts=attempts,
            retry_in_s=round(delay, 3),
            error=str(error),
        )


def _where(error: BaseException) -> str:
    """The file and line an exception was raised at (`webhook.py:41`)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"
