"""The store's side of the engine: what was applied, written in the order it was applied, on a
task of its own, so a slow disk delays the history and never the engine.

A write that fails is told by the store's write health (once when writes start failing, once
when they recover); the recorder goes on with the next. When the store falls so far behind
that `backlog` items wait, new items are not queued (history has a gap, and the store's write
health says why) rather than letting memory grow without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence

import structlog

from monitor.controls import Control
from monitor.deploys import Deploy
from monitor.errors import StoreError
from monitor.events import Event
from monitor.evidence import (
    DnsRoundFinished,
    Evidence,
    RoundFinished,
    TrafficManagerRead,
)
from monitor.queues import drain_then_cancel
from monitor.store import Store

# Told the events a write could not store, so their alerts can still go (from memory).
Unrecorded = Callable[[Sequence[Event]], None]

__all__ = ["Recorder"]

log = structlog.get_logger("monitor.recorder")


class Recorder:
    def __init__(self, store: Store, *, backlog: int = 10_000) -> None:
        self._store = store
        self.unrecorded: Unrecorded | None = None
        self._queue: asyncio.Queue[
            tuple[Evidence, Sequence[Event], Sequence[Deploy], Sequence[Control]]
        ] = asyncio.Queue(backlog)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def record(
        self,
        evidence: Evidence,
        events: Sequence[Event],
        deploys: Sequence[Deploy] = (),
        controls: Sequence[Control] = (),
    ) -> None:
        """Queue the evidence's history, its events, the deploys detected and the controls
        started or ended for the store; never waits."""
        if (
            not events
            and not deploys
            and not controls
            and not isinstance(evidence, RoundFinished | TrafficManagerRead | DnsRoundFinished)
        ):
            return  # nothing of it is stored
        try:
            self._queue.put_nowait((evidence, events, deploys, controls))
        except asyncio.QueueFull:
            self.dropped += 1
            self._store.writes.failed(
                f"the store is too slow: {self._queue.maxsize} writes waiting, "
                f"{self.dropped} dropped"
            )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="recorder")

    async def stop(self, *, grace: float) -> None:
        """Write what is queued (up to `grace` seconds), then stop."""
        if self._task is None:
            return
        await drain_then_cancel(self._queue, self._task, grace)
        self._task = None

    async def flush(self) -> None:
        """Wait until everything queued so far is written (or failed)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            evidence, events, deploys, controls = await self._queue.get()
            try:
                await self._write(evidence, events, deploys, controls)
            finally:
                self._queue.task_done()

    async def _write(
        self,
        evidence: Evidence,
        events: Sequence[Event],
        deploys: Sequence[Deploy],
        controls: Sequence[Control],
    ) -> None:
        # Each write on its own: a round that cannot be stored must not cost its events.
        store = self._store
        match evidence:
            case RoundFinished(verdict=verdict):
                await _attempt(store.record(verdict), "round")
            case TrafficManagerRead(reading=reading):
                await _attempt(store.record_traffic_manager(reading), "traffic_manager_reading")
            case DnsRoundFinished(checked_at=checked_at, findings=findings):
                await _attempt(store.record_dns(checked_at.timestamp(), findings), "dns_round")
        for deploy in deploys:
            await _attempt(store.record_deploy(deploy), "deploy")
        for control in controls:
            await _attempt(store.save_control(control), "control")
        written = not events or await _attempt(store.record_events(events), "events")
        if not written and self.unrecorded is not None:
            try:
                self.unrecorded(events)
            except Exception:  # our bug: these alerts are lost, never the recorder
                log.exception("alerts_not_queued", events=len(events))


async def _attempt(write: Coroutine[object, object, None], what: str) -> bool:
    """Whether the write was made."""
    try:
        await write
    except StoreError:
        return False  # the store's write health tells it, once when it starts and at the end
    except Exception:
        log.exception("history_not_recorded", what=what)
        return False
    return True
