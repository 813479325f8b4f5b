"""The `traffic_manager` check: Traffic Manager's view read on its own schedule, and whether
this identity may write it. Failures here are ERROR (we could not see), never a region failure."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from monitor.clock import Clock
from monitor.errors import TrafficManagerError
from monitor.trafficmanager.model import ProfileState, WriteAccess
from monitor.trafficmanager.port import TrafficManager

__all__ = ["AccessCheck", "Outage", "Reading", "TrafficManagerWatch"]

log = structlog.get_logger("monitor.trafficmanager")


@dataclass(frozen=True, slots=True)
class Reading:
    """One read of the profile: the profile, or why it could not be read."""

    read_at: float  # epoch seconds
    profile: ProfileState | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Outage:
    """Traffic Manager cannot be read: the latest error, since when reads have failed, and
    when the profile still shown was read (None: never)."""

    error: str
    since: float  # epoch seconds of the first failed read in this run of failures
    profile_read_at: float | None


@dataclass(frozen=True, slots=True)
class AccessCheck:
    checked_at: float
    access: WriteAccess | None = None
    error: str | None = None

    @property
    def can_write(self) -> bool:
        return self.access is not None and self.access.can_write


class TrafficManagerWatch:
    """Keeps the latest reading and access check in memory; never raises."""

    def __init__(self, client: TrafficManager, clock: Clock) -> None:
        self.client = client
        self._clock = clock
        self.latest: Reading | None = None
        # The last profile actually read: one throttled read must not erase what we know
        # (DNS answers are explained with it, regions shown beside it). Its age is in
        # `last_good.read_at`.
        self.last_good: Reading | None = None
        self.access: AccessCheck | None = None
        # When the current run of failed reads began; None while reads succeed.
        self.failing_since: float | None = None

    @property
    def profile(self) -> ProfileState | None:
        return self.last_good.profile if self.last_good else None

    @property
    def outage(self) -> Outage | None:
        """Why and since when Traffic Manager cannot be read; None when the last read worked."""
        latest = self.latest
        if latest is None or latest.error is None or self.failing_since is None:
            return None
        profile_read_at = self.last_good.read_at if self.last_good else None
        return Outage(latest.error, self.failing_since, profile_read_at)

    async def read(self) -> Reading:
        now = self._clock.now().timestamp()
        try:
            reading = Reading(now, profile=await self.client.profile())
        except TrafficManagerError as e:
            reading = Reading(now, error=str(e))
            log.warning("traffic_manager_read_failed", error=str(e), retryable=e.retryable)
        except Exception as e:  # our bug: recorded as ERROR, never fatal to the scheduler
            reading = Reading(now, error=f"internal error: {type(e).__name__}")
            log.exception("traffic_manager_read_crashed")
        self.latest = reading
        if reading.profile is not None:
            self.last_good = reading
            self.failing_since = None
        elif self.failing_since is None:
            self.failing_since = reading.read_at
        return reading

    async def check_access(self) -> AccessCheck:
        now = self._clock.now().timestamp()
        try:
            check = AccessCheck(now, access=await self.client.write_access())
        except TrafficManagerError as e:
            check = AccessCheck(now, error=str(e))
        except Exception as e:
            check = AccessCheck(now, error=f"internal error: {type(e).__name__}")
            log.exception("traffic_manager_access_check_crashed")
        if not check.can_write:
            log.warning(
                "traffic_manager_cannot_write",
                detail=check.access.detail if check.access else check.error,
            )
        self.access = check
        return check
