"""The `traffic_manager` check: one read of the profile, and whether this identity may write
it. Failures here are ERROR (we could not see), never a region failure; these never raise."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from monitor.clock import Clock
from monitor.errors import TrafficManagerError
from monitor.trafficmanager.geography import GeographicHierarchy
from monitor.trafficmanager.model import ProfileState, WriteAccess
from monitor.trafficmanager.port import TrafficManager

__all__ = [
    "AccessCheck",
    "Outage",
    "Reading",
    "check_access",
    "read_geography",
    "read_profile",
]

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
    """One write-permission check: its answer (`access`), or why it could not be made."""

    checked_at: float
    access: WriteAccess | None = None
    error: str | None = None

    @property
    def can_write(self) -> bool:
        return self.access is not None and self.access.can_write

    @property
    def detail(self) -> str:
        """What the check found, in one line."""
        return self.access.detail if self.access is not None else self.error or ""


async def read_profile(client: TrafficManager, clock: Clock) -> Reading:
    """One read; a failure is a Reading with its error (logged once here, without a
    traceback for Azure's own errors)."""
    now = clock.now().timestamp()
    try:
        return Reading(now, profile=await client.profile())
    except TrafficManagerError as e:
        log.warning("traffic_manager_read_failed", error=str(e), retryable=e.retryable)
        return Reading(now, error=str(e))
    except Exception as e:  # our bug: recorded as ERROR, never fatal to the scheduler
        log.exception("traffic_manager_read_crashed")
        return Reading(now, error=f"internal error: {type(e).__name__}")


async def check_access(client: TrafficManager, clock: Clock) -> AccessCheck:
    """Whether this identity may write the profile's endpoints (ARM's permissions listing).
    A check that fails is an AccessCheck with its error: unknown, which is not "cannot write"
    (logged as `traffic_manager_access_check_failed`, apart from `traffic_manager_cannot_write`)."""
    now = clock.now().timestamp()
    try:
        check = AccessCheck(now, access=await client.write_access())
    except TrafficManagerError as e:
        check = AccessCheck(now, error=str(e))
        log.warning("traffic_manager_access_check_failed", error=check.error)
    except Exception as e:
        check = AccessCheck(now, error=f"internal error: {type(e).__name__}")
        log.exception("traffic_manager_access_check_crashed")
    if check.access is not None and not check.can_write:
        log.warning("traffic_manager_cannot_write", detail=check.detail)
    return check


async def read_geography(client: TrafficManager) -> GeographicHierarchy | None:
    """Azure's geographic hierarchy, or None when it cannot be read (logged once here): the
    one already known stays in use."""
    try:
        return await client.geographic_hierarchy()
    except TrafficManagerError as e:
        log.warning("geographic_hierarchy_read_failed", error=str(e))
    except Exception:
        log.exception("geographic_hierarchy_read_crashed")
    return None
