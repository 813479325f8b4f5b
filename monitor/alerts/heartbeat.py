"""The dead-man's switch (`alerting.heartbeat`): a URL fetched once per interval while the
monitor is healthy, so an outside service notices when regionwatch dies or goes blind.

Healthy is: the scheduler running, at least one round done, and no `monitor.blind` condition
open, all read from the engine's snapshot. While it is not, no fetch is made: the outside
service's silence is the alert. A failed fetch is logged (`heartbeat_failed`, the URL shown
only as scheme and host: its path is the check's secret) and never raises.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import structlog

from monitor.clock import Clock
from monitor.config import HeartbeatConfig
from monitor.events import EventType
from monitor.redaction import safe_url
from monitor.snapshot import Snapshot

__all__ = ["Heartbeat", "unhealthy"]

log = structlog.get_logger("monitor.alerts")


def unhealthy(snapshot: Snapshot) -> str | None:
    """Why the monitor must not say it is alive, in words; None when it is healthy."""
    if not snapshot.scheduler_running:
        return "scheduler not running"
    if not any(view.rounds_done for view in snapshot.regions.values()):
        return "no round done yet"
    blind = [c.summary for c in snapshot.conditions.values() if c.type is EventType.MONITOR_BLIND]
    if blind:
        return f"monitor blind: {'; '.join(blind)}"
    return None


class Heartbeat:
    """One GET of `config.url` per `beat`, with `config.timeout`, when `snapshot()` is
    healthy. The service runs `beat` every `config.interval`."""

    def __init__(
        self, config: HeartbeatConfig, *, snapshot: Callable[[], Snapshot], clock: Clock
    ) -> None:
        self._url = config.url
        self._snapshot = snapshot
        self._clock = clock
        self._client = httpx.AsyncClient(
            timeout=config.timeout.total_seconds(), follow_redirects=False
        )
        self._held: str | None = None  # why beats are held back, told once per change
        self.interval = config.interval

    async def beat(self) -> bool:
        """One fetch when healthy; True when the URL answered 2xx."""
        why = unhealthy(self._snapshot())
        if why != self._held:
            # Info: what holds it back (blindness, a stop) has its own warning or event.
            if why is not None:
                log.info("heartbeat_held", reason=why)
            else:
                log.info("heartbeat_resumed")
            self._held = why
        if why is not None:
            return False
        where = safe_url(self._url)
        started = self._clock.monotonic()
        try:
            response = await self._client.get(self._url)
        except httpx.TimeoutException:
            log.warning("heartbeat_failed", url=where, error="timed out")
            return False
        except Exception as e:  # never fatal to the scheduler
            # The class only: httpx's text may quote the URL, whose path is the secret.
            log.warning(
                "heartbeat_failed", url=where, error=f"could not fetch ({type(e).__name__})"
            )
            return False
        if not response.is_success:
            log.warning(
                "heartbeat_failed", url=where, error=f"answered HTTP {response.status_code}"
            )
            return False
        elapsed_ms = round((self._clock.monotonic() - started) * 1000, 1)
        log.debug("heartbeat_sent", url=where, ms=elapsed_ms)
        return True

    async def aclose(self) -> None:
        await self._client.aclose()
