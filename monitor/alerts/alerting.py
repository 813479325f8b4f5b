"""Alerting as the service runs it: the routing handed to the store, one dispatcher per channel,
and the events the store could not take delivered from memory; each channel's health, with
its outbox counted in the background so that readers (metrics, the dashboard) never wait for
the store.

Built by `monitor.service.build_service` when `alerts` names channels; `regionwatch check`
never sends alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet

import structlog

from monitor.alerts.channels import build_notifier
from monitor.alerts.dispatcher import Backoff, Dispatcher
from monitor.alerts.grouping import Noise
from monitor.alerts.health import ChannelStatus, HealthListener
from monitor.alerts.outbox import NO_REGION, OutboxRow, event_json, idempotency_key
from monitor.alerts.routing import router
from monitor.clock import Clock
from monitor.config import Config
from monitor.errors import StoreError
from monitor.events import Event
from monitor.store import Store

__all__ = ["Alerting"]

log = structlog.get_logger("monitor.alerts")

# The outbox is counted again at most this often while nothing changes (a resend, a prune).
_RECOUNT = 10.0


class Alerting:
    """Routes events into `store`'s outbox and delivers each channel on a task of its own."""

    def __init__(self, config: Config, store: Store, *, clock: Clock) -> None:
        self._clock = clock
        self._store = store
        self._recount = asyncio.Event()
        self._counter: asyncio.Task[None] | None = None
        self._route = router(config.alerts)
        self._route_resolution = router(config.alerts, any_severity=True)
        backoff = Backoff(cap=config.alerting.retry_max_delay, budget=config.alerting.retry_for)
        noise = Noise(
            group_window=config.alerting.group_window,
            fold_after=config.alerting.fold_after,
            remind_every=config.alerting.remind_every,
        )
        # The regions silenced now (no reminders for them): the service sets it once the
        # engine, which holds the silences, exists.
        self.silenced: Callable[[], AbstractSet[str]] = frozenset
        self.dispatchers = {
            channel.name: Dispatcher(
                store,
                build_notifier(channel, clock),
                clock=clock,
                backoff=backoff,
                link=config.api.public_url,
                noise=noise,
                silenced=lambda: self.silenced(),
            )
            for channel in config.alerts
        }
        for dispatcher in self.dispatchers.values():
            dispatcher.status.changed = self._recount.set
        store.route_alerts = self._route
        store.outbox_listeners.append(self.wake)

    @property
    def statuses(self) -> Mapping[str, ChannelStatus]:
        """Each channel's health and counts, by name, in the configuration's order."""
        return {name: d.status for name, d in self.dispatchers.items()}

    def listen(self, listener: HealthListener) -> None:
        """Call `listener(channel, trouble)` when a channel starts failing, and with None when
        it delivers again."""
        for dispatcher in self.dispatchers.values():
            dispatcher.status.listener = listener

    def start(self) -> None:
        for dispatcher in self.dispatchers.values():
            dispatcher.start()
        self._counter = asyncio.create_task(self._count(), name="alerts-outbox-count")

    async def drain(self, grace: float) -> None:
        """Give every channel up to `grace` seconds in all to deliver what is due now (the
        `monitor.stopping` alert, at a stop); see `Dispatcher.drain`."""
        await asyncio.gather(*(d.drain(grace) for d in self.dispatchers.values()))

    async def stop(self) -> None:
        """Stop every channel at once: what is pending stays in the outbox for the next start."""
        if self._counter is not None:
            self._counter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._counter
            self._counter = None
        for dispatcher in self.dispatchers.values():
            await dispatcher.stop()

    def wake(self) -> None:
        for dispatcher in self.dispatchers.values():
            dispatcher.wake()
        self._recount.set()

    async def count(self) -> None:
        """Count the outbox's pending and dead rows of every channel into its status."""
        counts = await self._store.outbox_counts()
        for name, dispatcher in self.dispatchers.items():
            found = counts.get(name, {})
            dispatcher.status.pending = found.get("pending", 0)
            dispatcher.status.dead_stored = found.get("dead", 0)

    async def _count(self) -> None:
        """Keep the statuses' counts fresh: after alerts are queued, resent, delivered or
        given up, and every `_RECOUNT` seconds (a prune)."""
        while True:
            self._recount.clear()
            # On a StoreError the store's write health says why; the last counts stand.
            with contextlib.suppress(StoreError):
                await self.count()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_RECOUNT):
                    await self._recount.wait()
            await asyncio.sleep(0.05)  # a burst of wakes makes one count, not many

    def unrecorded(self, events: Sequence[Event]) -> None:
        """Events the store could not take: their alerts go from memory. A resolution goes to
        every channel whose events and regions take it, whatever its severity (where its
        problem went is in the store that just failed)."""
        now = self._clock.now().timestamp()
        for event in events:
            channels = (self._route_resolution if event.resolved else self._route)(event)
            body = json.loads(json.dumps(event_json(event)))
            for channel in channels:
                row = OutboxRow(
                    seq=0,
                    key=idempotency_key(event.id, channel),
                    channel=channel,
                    lane=event.region or NO_REGION,
                    event=body,
                    attempts=0,
                    created_at=now,
                    next_at=now,
                    problem=event.problem,
                )
                self.dispatchers[channel].remember([row])
                log.warning("alert_from_memory", channel=channel, type=event.type.value)
