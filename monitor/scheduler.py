"""APScheduler wiring: one job per region per round, never overlapping itself.

The scheduler is the one part that waits on wall time; what it runs reads the injected clock,
and a test steps the service by calling those jobs itself (`Service.run_round`, ...).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.clock import Clock, SystemClock

__all__ = ["PeriodicJob", "RoundScheduler"]

log = structlog.get_logger("monitor.scheduler")

PRUNE_EVERY = timedelta(hours=1)
# How long cancelled jobs get to unwind; they only have to leave their awaits.
_CANCEL_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """A job beside the rounds (a Traffic Manager read, a permissions check), first run at start."""

    id: str
    name: str
    interval: timedelta
    run: Callable[[], Awaitable[object]]


class RoundScheduler:
    """Schedules rounds and housekeeping. Jobs never overlap themselves (`max_instances=1`),
    and rounds missed while the loop was busy are coalesced into one."""

    def __init__(
        self,
        regions: Sequence[str],
        *,
        interval: timedelta,
        jitter: timedelta,
        run_round: Callable[[str], Awaitable[object]],
        housekeeping: Callable[[], Awaitable[object]],
        periodic: Sequence[PeriodicJob] = (),
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()  # noqa: S311 (spreading rounds, not security)
        self._regions = list(regions)
        self._interval = interval
        self._jitter = jitter
        self._run_round = run_round
        self._housekeeping = housekeeping
        self._periodic = list(periodic)
        self._scheduler: AsyncIOScheduler | None = None
        self._active: set[asyncio.Task[object]] = set()
        self._cancelling = False

    @property
    def running(self) -> bool:
        return self._scheduler is not None and bool(self._scheduler.running)

    def start(self) -> None:
        """Start on the running event loop. Each region gets a fixed phase, drawn once within
        the jitter, so regions are not probed in lockstep and each keeps a steady interval."""
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": max(1, int(self._interval.total_seconds())),
            },
        )
        now = self._clock.now()
        jitter = self._jitter.total_seconds()
        for region in self._regions:
            scheduler.add_job(
                self._tracked,
                IntervalTrigger(seconds=self._interval.total_seconds()),
                args=[self._run_round, region],
                id=f"https-round:{region}",
                name=f"HTTPS round of {region}",
                next_run_time=now + timedelta(seconds=self._rng.uniform(0, jitter)),
            )
        scheduler.add_job(
            self._tracked,
            IntervalTrigger(seconds=PRUNE_EVERY.total_seconds()),
            args=[self._housekeeping],
            id="housekeeping",
            name="store retention",
            next_run_time=now,
        )
        for job in self._periodic:
            scheduler.add_job(
                self._tracked,
                IntervalTrigger(seconds=job.interval.total_seconds()),
                args=[job.run],
                id=job.id,
                name=job.name,
                next_run_time=now,
                misfire_grace_time=max(1, int(job.interval.total_seconds())),
            )
        scheduler.start()
        self._scheduler = scheduler

    def run_now(self, region: str) -> None:
        """Run `region`'s round now rather than at its next turn (its phase is kept); nothing
        when one is running already or the scheduler is stopped."""
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running:
            return
        job = scheduler.get_job(f"https-round:{region}")
        if job is not None:
            job.modify(next_run_time=self._clock.now())

    async def shutdown(self, *, grace: float = 10.0) -> None:
        """Stop scheduling, let jobs already running finish for up to `grace` seconds, then
        cancel those still running (a dependency that never answers must not hold the stop).

        A job cancelled here ends quietly (`job_cancelled_at_stop`): its result is lost, which
        is what a stop means, and no error is logged for it.
        """
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None or not scheduler.running:
            return
        scheduler.pause()
        if self._active:
            await asyncio.wait(set(self._active), timeout=grace)
        running = set(self._active)
        if running:
            self._cancelling = True
            for task in running:
                task.cancel()
            await asyncio.wait(running, timeout=_CANCEL_WAIT)
        scheduler.shutdown(wait=False)

    async def _tracked(self, job: Callable[..., Awaitable[object]], *args: object) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        try:
            await job(*args)
        except asyncio.CancelledError:
            if not self._cancelling:
                raise
            log.info("job_cancelled_at_stop", job=getattr(job, "__name__", str(job)), args=args)
        finally:
            if task is not None:
                self._active.discard(task)
