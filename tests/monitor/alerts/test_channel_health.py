"""A channel's health as the dispatcher records it, against a real receiver on loopback:
retrying while attempts fail, failing after `BLIND_FAILURES` in a row, delivering again on the
first delivery, each change into and out of failing told once."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from alertreceiver import Answer, receiving

from monitor.alerts.dispatcher import Backoff, Dispatcher
from monitor.alerts.health import BLIND_FAILURES, ChannelHealth, ChannelTrouble
from monitor.alerts.webhook import WebhookNotifier
from monitor.clock import ManualClock
from monitor.events import Event, EventType, Severity
from monitor.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)


def failing_event() -> Event:
    return Event(
        id="e0001",
        type=EventType.REGION_FAILING,
        severity=Severity.CRITICAL,
        region="westeurope",
        at=START,
        since=START,
        summary="westeurope failing",
        evidence={},
        instance="test",
        problem="region/westeurope",
    )


async def test_failed_attempts_in_a_row_make_a_channel_failing_until_it_delivers(
    store: Store,
) -> None:
    """Attempts failing with 503 make the channel `retrying`, then `failing` (told once) at
    the BLIND_FAILURES-th; the delivery after them makes it `delivering` (told once)."""
    clock = ManualClock(START)
    told: list[tuple[str, ChannelTrouble | None]] = []
    async with receiving() as receiver:
        receiver.script.extend([Answer(503)] * BLIND_FAILURES)
        notifier = WebhookNotifier("ops", receiver.url, clock=clock)
        d = Dispatcher(store, notifier, clock=clock, rng=random.Random(1), backoff=Backoff())
        d.status.listener = lambda channel, trouble: told.append((channel, trouble))
        await store.record_events([failing_event()])
        healths = []
        for _ in range(BLIND_FAILURES):
            wait = await d.run_once()
            assert wait is not None
            healths.append(d.status.health)
            clock.advance(wait + 0.001)  # past it: float rounding must not leave it undue
        assert healths[:-1] == [ChannelHealth.RETRYING] * (BLIND_FAILURES - 1)
        assert healths[-1] is ChannelHealth.FAILING
        [(channel, trouble)] = told
        assert channel == "ops" and trouble is not None
        assert trouble.failures == BLIND_FAILURES and "HTTP 503" in trouble.error
        assert await d.run_once() is None
        await d.stop()
    assert d.status.health is ChannelHealth.DELIVERING
    assert told[1:] == [("ops", None)]
    assert (d.status.delivered_total, d.status.failed_total) == (1, BLIND_FAILURES)
    assert d.status.last_delivered_at == clock.now()
