"""Alerting as the service runs it: the routing handed to the store, one dispatcher per channel,
and the events the store could not take delivered from memory.

Built by `monitor.service.build_service` when `alerts` names channels; `regionwatch check`
never sends alerts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet

import structlog

from monitor.alerts.channels import build_notifier
from monitor.alerts.dispatcher import Backoff, Dispatcher
from monitor.alerts.grouping import Noise
from monitor.alerts.outbox import NO_REGION, OutboxRow, event_json, idempotency_key
from monitor.alerts.routing import router
from monitor.clock import Clock
from monitor.config import Config
from monitor.events import Event
from monitor.store import Store

__all__ = ["Alerting"]

log = structlog.get_logger("monitor.alerts")


class Alerting:
    """Routes events into `store`'s outbox and delivers each channel on a task of its own."""

    def __init__(self, config: Config, store: Store, *, clock: Clock) -> None:
        self._clock = clock
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
        store.route_alerts = self._route
        store.outbox_listeners.append(self.wake)

    def start(self) -> None:
        for dispatcher in self.dispatchers.values():
            dispatcher.start()

    async def stop(self) -> None:
        """Stop every channel at once: what is pending stays in the outbox for the next start."""
        for dispatcher in self.dispatchers.values():
            await dispatcher.stop()

    def wake(self) -> None:
        for dispatcher in self.dispatchers.values():
            dispatcher.wake()

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
