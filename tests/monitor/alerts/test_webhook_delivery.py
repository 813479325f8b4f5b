"""The signed webhook and its dispatcher against a real receiver on loopback."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from alertreceiver import Answer, receiving
from servers import eventually

from monitor.alerts.dispatcher import Backoff, Dispatcher
from monitor.alerts.notifier import Alert, NotifyError
from monitor.alerts.webhook import WebhookNotifier, signature
from monitor.clock import ManualClock
from monitor.events import Event, EventType, Severity
from monitor.store import Store

SECRET = "whsec-do-not-leak"
START = datetime(2026, 1, 1, tzinfo=UTC)


def event(n: int, region: str = "westeurope", kind: EventType = EventType.REGION_FAILING) -> Event:
    at = START + timedelta(seconds=n)
    return Event(
        id=f"e{n:04d}",
        type=kind,
        severity=Severity.CRITICAL,
        region=region,
        at=at,
        since=at,
        summary=f"event {n}",
        evidence={},
        instance="test",
        problem=f"region/{region}/{n}",
    )


def dispatcher(store: Store, url: str, clock: ManualClock, timeout: float = 5.0) -> Dispatcher:
    notifier = WebhookNotifier("ops", url, clock=clock, secret=SECRET, timeout=timeout)
    return Dispatcher(store, notifier, clock=clock, rng=random.Random(1), backoff=Backoff())


def ids(bodies: list[bytes]) -> list[str]:
    return [json.loads(b)["event"]["id"] for b in bodies]


async def test_a_webhook_is_signed_over_timestamp_and_body(store: Store) -> None:
    """The receiver recomputes X-Regionwatch-Signature from its timestamp and body."""
    clock = ManualClock(START)
    async with receiving() as receiver:
        d = dispatcher(store, receiver.url, clock)
        await store.record_events([event(1)])
        await d.run_once()
        await d.stop()
    [got] = receiver.accepted
    timestamp = got.headers["x-regionwatch-timestamp"]
    assert timestamp == str(int(START.timestamp()))
    assert got.headers["x-regionwatch-signature"] == signature(SECRET, timestamp, got.body)
    body = json.loads(got.body)
    assert body["version"] == 1 and body["event"]["type"] == "region.failing"
    assert got.headers["idempotency-key"] == body["id"]


@pytest.mark.parametrize(
    "answer", [Answer(500), Answer(429, {"Retry-After": "7"}), Answer(delay=1.0)]
)
async def test_5xx_429_and_timeouts_are_retried_until_delivered(
    store: Store, answer: Answer
) -> None:
    """A 500, a 429 (after its Retry-After) and a timeout are attempted again and delivered."""
    clock = ManualClock(START)
    async with receiving() as receiver:
        receiver.script.append(answer)
        d = dispatcher(store, receiver.url, clock, timeout=0.3)
        await store.record_events([event(1)])
        wait = await d.run_once()
        assert receiver.accepted == [] and wait is not None
        if answer.status == 429:
            assert wait == pytest.approx(7, abs=0.01)
        clock.advance(wait)
        assert await d.run_once() is None
        await d.stop()
    assert ids([r.body for r in receiver.accepted]) == ["e0001"]
    assert len({r.headers["idempotency-key"] for r in receiver.received}) == 1


async def test_an_answer_whose_body_cannot_be_decoded_is_an_attempt_tried_again(
    store: Store,
) -> None:
    """An answer httpx cannot decode (a broken gzip body) is a failed attempt, tried again
    and then delivered, not an error that escapes the dispatcher."""
    clock = ManualClock(START)
    async with receiving() as receiver:
        receiver.script.append(Answer(502, {"content-encoding": "gzip"}, body=b"not gzip"))
        d = dispatcher(store, receiver.url, clock)
        await store.record_events([event(1)])
        wait = await d.run_once()
        assert receiver.accepted == [] and wait is not None
        assert d.status.last_error is not None and "DecodingError" in d.status.last_error
        clock.advance(wait)
        assert await d.run_once() is None
        await d.stop()
    assert ids([r.body for r in receiver.accepted]) == ["e0001"]


async def test_a_400_dead_letters_without_blocking_the_next_alert(store: Store) -> None:
    """A refused alert becomes a dead letter and the next one in its region is delivered."""
    clock = ManualClock(START)
    async with receiving() as receiver:
        receiver.script.append(Answer(400))
        d = dispatcher(store, receiver.url, clock)
        await store.record_events([event(1), event(2)])
        await d.run_once()
        await d.run_once()
        await d.stop()
    assert ids([r.body for r in receiver.accepted]) == ["e0002"]
    [dead] = await store.dead_letters()
    assert dead["event"]["id"] == "e0001" and "HTTP 400" in dead["error"]


async def test_a_receiver_down_then_back_gets_everything_in_order_per_region(
    store: Store,
) -> None:
    """Alerts queued while the receiver is down arrive after it is back, in order per region."""
    clock = ManualClock(START)
    async with receiving() as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        url = receiver.url
    d = dispatcher(store, url, clock)
    await store.record_events([event(n, "westeurope" if n % 2 else "centralus") for n in range(6)])
    wait = await d.run_once()  # nobody listens: every lane's head fails
    assert wait is not None
    async with receiving(port) as receiver:
        while (wait := await d.run_once()) is not None:
            clock.advance(wait)
        await d.stop()
    got = [json.loads(r.body)["event"] for r in receiver.accepted]
    for region in ("westeurope", "centralus"):
        order = [e["id"] for e in got if e["region"] == region]
        assert order == sorted(order) and len(order) == 3


async def test_alerts_pending_at_a_restart_are_delivered_after_it(tmp_path: Path) -> None:
    """An alert stored but not delivered before the store closed is delivered after reopening."""
    clock = ManualClock(START)
    path = tmp_path / "s.db"
    first = Store(path, clock=clock, retention=timedelta(days=1), route_alerts=lambda e: ["ops"])
    await first.open()
    await first.record_events([event(1)])
    await first.close()
    again = Store(path, clock=clock, retention=timedelta(days=1), route_alerts=lambda e: ["ops"])
    await again.open()
    async with receiving() as receiver:
        d = dispatcher(again, receiver.url, clock)
        d.start()
        await eventually(lambda: receiver.accepted)
        await d.stop()
    await again.close()
    assert ids([r.body for r in receiver.accepted]) == ["e0001"]


async def test_no_secret_in_errors_or_logs(store: Store) -> None:
    """The signing secret and the URL's path appear in no error and no log line."""
    clock = ManualClock(START)
    async with receiving() as receiver:
        receiver.script.append(Answer(400))
        notifier = WebhookNotifier("ops", receiver.url, clock=clock, secret=SECRET)
        with structlog.testing.capture_logs() as logs:
            d = Dispatcher(store, notifier, clock=clock)
            await store.record_events([event(1)])
            await d.run_once()
            await d.stop()
        url = receiver.url
    down = WebhookNotifier("ops", url, clock=clock, secret=SECRET)
    with pytest.raises(NotifyError) as caught:
        await down.send(Alert("k", "ops", {}))
    await down.aclose()
    text = str(caught.value) + repr(logs) + repr(await store.dead_letters())
    assert "s3cr3t-path" not in text and SECRET not in text
    assert "http://127.0.0.1" in text


class BrokenOn:
    """A webhook notifier with a bug on one event: it raises what no notifier should."""

    def __init__(self, notifier: WebhookNotifier, event_id: str) -> None:
        self.name = notifier.name
        self._notifier = notifier
        self._event_id = event_id

    async def send(self, message: Alert) -> None:
        if message.event["id"] == self._event_id:
            raise TypeError("a bug in a notifier")
        await self._notifier.send(message)

    async def aclose(self) -> None:
        await self._notifier.aclose()


async def test_a_notifier_bug_dead_letters_its_alert_and_the_channel_delivers_on(
    store: Store,
) -> None:
    """An exception other than NotifyError from a notifier is logged and dead-letters that
    alert; the channel's task lives on and delivers the next alert."""
    clock = ManualClock(START)
    async with receiving() as receiver:
        notifier = WebhookNotifier("ops", receiver.url, clock=clock, secret=SECRET)
        d = Dispatcher(store, BrokenOn(notifier, "e0001"), clock=clock, backoff=Backoff())
        store.outbox_listeners.append(d.wake)
        with structlog.testing.capture_logs() as logs:
            d.start()
            await store.record_events([event(1), event(2)])
            await eventually(lambda: len(receiver.accepted) == 1)
            await d.stop()
    assert ids([r.body for r in receiver.accepted]) == ["e0002"]
    [dead] = await store.dead_letters("ops")
    assert dead["event"]["id"] == "e0001" and "TypeError" in dead["error"]
    assert any(entry["event"] == "alert_dead_lettered" for entry in logs)


async def test_a_pass_that_fails_unexpectedly_is_logged_and_the_channel_goes_on(
    store: Store,
) -> None:
    """An error no pass expects (an outbox row that does not read back) is logged and the
    channel's task lives on: once the row reads again, it is delivered."""
    clock = ManualClock(START)
    async with receiving() as receiver:
        d = dispatcher(store, receiver.url, clock)
        await store.record_events([event(1)])
        with sqlite3.connect(store.path) as db:
            good = db.execute("SELECT event FROM outbox").fetchone()[0]
            db.execute("UPDATE outbox SET event = 'not json'")
        with structlog.testing.capture_logs() as logs:
            d.start()
            await eventually(lambda: any(e["event"] == "alerts_pass_failed" for e in logs))
            with sqlite3.connect(store.path) as db:
                db.execute("UPDATE outbox SET event = ?", (good,))
            d.wake()
            await eventually(lambda: len(receiver.accepted) == 1)
            await d.stop()
    assert ids([r.body for r in receiver.accepted]) == ["e0001"]
