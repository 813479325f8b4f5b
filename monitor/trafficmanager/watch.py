"""The `traffic_manager` check: Traffic Manager's view read on its own schedule, and whether
this identity may write it. Failures here are ERROR (we could not see), never a region failure."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from monitor.clock import Clock
from monitor.errors import TrafficManagerError
from monitor.trafficmanager.model import ProfileState, WriteAccess
from monitor.trafficmanager.port import TrafficManager

__all__ = ["AccessCheck", "Reading", "TrafficManagerWatch"]

log = structlog.get_logger("monitor.trafficmanager")


@dataclass(frozen=True, slots=True)
class Reading:
    """One read of the profile: the profile, or why it could not be read."""

    read_at: float  # epoch seconds
    profile: ProfileState | None = None
    error: str | None = None


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

    @property
    def profile(self) -> ProfileState | None:
        return self.last_good.profile if self.last_good else None

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
