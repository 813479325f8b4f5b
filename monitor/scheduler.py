"""APScheduler wiring: one job per region per round, never overlapping itself."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["RoundScheduler"]

PRUNE_EVERY = timedelta(hours=1)


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
    ) -> None:
        self._regions = list(regions)
        self._interval = interval
        self._jitter = jitter
        self._run_round = run_round
        self._housekeeping = housekeeping
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and bool(self._scheduler.running)

    def start(self) -> None:
        """Start on the running event loop; the first round of each region starts at once,
        spread over the jitter so regions are not probed in lockstep."""
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": max(1, int(self._interval.total_seconds())),
            },
        )
        now = datetime.now(UTC)
        jitter = self._jitter.total_seconds()
        for region in self._regions:
            scheduler.add_job(
                self._run_round,
                IntervalTrigger(seconds=self._interval.total_seconds(), jitter=jitter or None),
                args=[region],
                id=f"https-round:{region}",
                name=f"HTTPS round of {region}",
                next_run_time=now + timedelta(seconds=random.uniform(0, jitter)),  # noqa: S311
            )
        scheduler.add_job(
            self._housekeeping,
            IntervalTrigger(seconds=PRUNE_EVERY.total_seconds()),
            id="housekeeping",
            name="store retention",
            next_run_time=now,
        )
        scheduler.start()
        self._scheduler = scheduler

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
