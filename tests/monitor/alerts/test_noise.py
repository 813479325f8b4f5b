"""Noise control: grouping, folding stale openings, resend as resolved and reminders, driven by
a manual clock against a real receiver on loopback and a real store."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alertreceiver import Answer, Receiver, receiving

from monitor.alerts.dispatcher import Backoff, Dispatcher
from monitor.alerts.grouping import Noise
from monitor.alerts.webhook import WebhookNotifier
from monitor.clock import ManualClock
from monitor.events import Condition, Event, EventType, Severity, derive, fact
from monitor.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
FOLD_AFTER = timedelta(minutes=10)
DOWN = [Answer(503)] * 10_000  # a receiver answering 503 until the script is cleared


def condition(
    t: float, region: str = "westeurope", kind: EventType = EventType.REGION_FAILING
) -> Condition:
    key = f"region/{region}" if kind is EventType.REGION_FAILING else f"endpoint/{region}"
    return Condition(
        key, kind, Severity.CRITICAL, region, START + timedelta(seconds=t), f"{kind} {t}"
    )


def opened(c: Condition, t: float | None = None) -> Event:
    """The event of `c` opening (at its start, or at `t`)."""
    at = c.since if t is None else START + timedelta(seconds=t)
    [event] = derive({}, {c.key: c}, at=at, instance="test")
    return event


def closed(c: Condition, t: float) -> Event:
    """The event of `c` closing at `t`: for a region, `region.recovered`."""
    [event] = derive({c.key: c}, {}, at=START + timedelta(seconds=t), instance="test")
    return event


@dataclass
class Bench:
    """A store, a clock and a dispatcher per channel, each channel with its receiver."""

    store: Store
    clock: ManualClock
    dispatchers: list[Dispatcher] = field(default_factory=list)

    def add(
        self,
        channel: str,
        receiver: Receiver,
        noise: Noise,
        silenced: Callable[[], AbstractSet[str]] = frozenset,
        retry_cap: float = 5.0,
    ) -> None:
        notifier = WebhookNotifier(channel, receiver.url, clock=self.clock, timeout=2.0)
        backoff = Backoff(cap=timedelta(seconds=retry_cap))
        self.dispatchers.append(
            Dispatcher(
                self.store,
                notifier,
                clock=self.clock,
                backoff=backoff,
                rng=random.Random(1),
                noise=noise,
                silenced=silenced,
            )
        )

    async def run_to(self, t: float, *events: Event) -> None:
        """Move the clock to START + `t` (stopping wherever something falls due), then store
        `events` and deliver what is due at once."""
        end = START + timedelta(seconds=t)
        for _ in range(10_000):
            waits = [w for d in self.dispatchers if (w := await d.run_once()) is not None]
            if 0 in waits:
                continue
            remaining = (end - self.clock.now()).total_seconds()
            if remaining <= 0:
                break
            # Up to the next microsecond (the clock's resolution), or it may stop just short.
            self.clock.advance(math.ceil(min([remaining, *waits]) * 1e6) / 1e6)
        else:
            raise AssertionError("the dispatchers never settled")
        if events:
            await self.store.record_events(events)
            await self.run_to(t)

    async def stop(self) -> None:
        for d in self.dispatchers:
            await d.stop()


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    clock = ManualClock(START)
    store = Store(
        tmp_path / "s.db", clock=clock, retention=timedelta(days=1), route_alerts=lambda e: ["ops"]
    )
    await store.open()
    b = Bench(store, clock)
    yield b
    await b.stop()
    await store.close()


def events(receiver: Receiver) -> list[dict[str, Any]]:
    """The events the receiver accepted, in order."""
    return [json.loads(r.body)["event"] for r in receiver.accepted]


def outbox(store: Store) -> list[tuple[str, str, str, str | None]]:
    """Every outbox row as (event type, key, state, folded into), in `seq` order."""
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT event, key, state, folded_into FROM outbox ORDER BY seq")
        return [(json.loads(e)["type"], k, s, f) for e, k, s, f in rows]


def flap(times: Sequence[float], region: str = "westeurope") -> list[tuple[float, Event]]:
    """A region failing at each even position of `times` and recovering at each odd one."""
    out = []
    for i in range(0, len(times), 2):
        c = condition(times[i], region)
        out.append((times[i], opened(c)))
        if i + 1 < len(times):
            out.append((times[i + 1], closed(c, times[i + 1])))
    return out


async def test_the_first_message_goes_at_once_and_what_follows_waits_for_the_window(
    bench: Bench,
) -> None:
    """A problem's first message is sent at once; its next change waits for the window's end."""
    async with receiving() as receiver:
        bench.add("ops", receiver, Noise(group_window=WINDOW))
        c = condition(0)
        await bench.run_to(0, opened(c))
        assert [e["type"] for e in events(receiver)] == ["region.failing"]
        await bench.run_to(10, closed(c, 10))
        await bench.run_to(299)
        assert len(receiver.accepted) == 1
        await bench.run_to(300)
        assert [e["type"] for e in events(receiver)] == ["region.failing", "region.recovered"]
        assert bench.clock.now() == START + WINDOW


@pytest.mark.parametrize(("changes", "ends"), [(6, "region.recovered"), (5, "region.failing")])
async def test_a_flap_within_the_window_is_two_messages_the_second_grouped(
    bench: Bench, changes: int, ends: str
) -> None:
    """Failing and recovering three times within the window: the first failing at once, then
    one message at the window's end with the latest state and what it groups."""
    async with receiving() as receiver:
        bench.add("ops", receiver, Noise(group_window=WINDOW))
        flapping = flap([0, 10, 20, 30, 40, 50][:changes])
        for t, e in flapping:
            await bench.run_to(t, e)
        await bench.run_to(600)
    first, grouped = events(receiver)
    assert first["id"] == flapping[0][1].id
    assert grouped["type"] == ends and grouped["resolved"] is (ends == "region.recovered")
    assert grouped["grouped"]["count"] == changes - 1
    assert grouped["grouped"]["ids"] == [e.id for _, e in flapping[1:]]
    assert grouped["grouped"]["first_at"] == flapping[1][1].at.isoformat()
    rows = outbox(bench.store)
    last_key = rows[-1][1]
    assert [(s, f) for _, _, s, f in rows] == [
        ("delivered", None),
        *[("grouped", last_key)] * (changes - 2),
        ("delivered", None),
    ]


async def test_a_group_window_of_zero_sends_every_change(bench: Bench) -> None:
    """With `group_window: 0s` every change is sent, even those queued while the receiver was
    down."""
    async with receiving() as receiver:
        bench.add("ops", receiver, Noise(group_window=timedelta(0)))
        receiver.script.extend(DOWN)
        flapping = flap([0, 10, 20, 30, 40, 50])
        for t, e in flapping:
            await bench.run_to(t, e)
        receiver.script.clear()
        await bench.run_to(120)
    assert [e["id"] for e in events(receiver)] == [e.id for _, e in flapping]


async def test_a_held_problem_delays_no_other_problem_region_or_channel(bench: Bench) -> None:
    """While a region's recovery is held for grouping, another problem of that region, another
    region and another channel are delivered at once."""
    bench.store.route_alerts = lambda e: ["ops", "pager"] if e.region == "centralus" else ["ops"]
    async with receiving() as ops, receiving() as pager:
        bench.add("ops", ops, Noise(group_window=WINDOW))
        bench.add("pager", pager, Noise(group_window=WINDOW))
        c = condition(0)
        await bench.run_to(0, opened(c))
        await bench.run_to(10, closed(c, 10))
        disabled = opened(condition(20, kind=EventType.ENDPOINT_DISABLED))
        elsewhere = opened(condition(20, "centralus"))
        await bench.run_to(20, disabled, elsewhere)
        assert [e["id"] for e in events(ops)] == [opened(c).id, disabled.id, elsewhere.id]
        assert [e["id"] for e in events(pager)] == [elsewhere.id]
        await bench.run_to(300)
        assert events(ops)[-1]["type"] == "region.recovered"


async def test_a_recovery_never_arrives_before_its_failing(bench: Bench) -> None:
    """A failing the receiver asked to retry later holds its recovery behind it, though the
    receiver takes the recovery's attempt at once."""
    async with receiving() as receiver:
        bench.add("ops", receiver, Noise(group_window=WINDOW))
        c = condition(0)
        receiver.script.append(Answer(503, {"Retry-After": "60"}))
        await bench.run_to(0, opened(c))
        await bench.run_to(10, closed(c, 10))
        assert receiver.accepted == []
        await bench.run_to(600)
    assert [e["type"] for e in events(receiver)] == ["region.failing", "region.recovered"]


async def test_an_opening_undelivered_past_fold_after_goes_folded_into_its_resolution(
    bench: Bench,
) -> None:
    """A failing still undelivered when its recovery is older than `fold_after` is not sent:
    the recovery carries it in `folded`, and its row says where it went."""
    async with receiving() as receiver:
        noise = Noise(group_window=WINDOW, fold_after=FOLD_AFTER)
        bench.add("ops", receiver, noise, retry_cap=30.0)
        receiver.script.extend(DOWN)
        c = condition(0)
        await bench.run_to(0, opened(c))
        await bench.run_to(60, closed(c, 60))
        await bench.run_to(60 + FOLD_AFTER.total_seconds())
        receiver.script.clear()
        await bench.run_to(60 + FOLD_AFTER.total_seconds() + 30)
    [got] = events(receiver)
    assert got["type"] == "region.recovered" and got["resolved"] is True
    assert got["folded"] == [
        {"id": opened(c).id, "type": "region.failing", "at": c.since.isoformat(), "summary": ANY}
    ]
    (_, _, failing_state, into), (_, recovered_key, _, _) = outbox(bench.store)
    assert (failing_state, into) == ("folded", recovered_key)


async def test_an_opening_is_sent_when_its_resolution_is_younger_than_fold_after(
    bench: Bench,
) -> None:
    """An opening whose resolution ended less than `fold_after` ago is still sent, first."""
    async with receiving() as receiver:
        bench.add("ops", receiver, Noise(group_window=WINDOW, fold_after=FOLD_AFTER))
        receiver.script.extend(DOWN)
        c = condition(0)
        await bench.run_to(0, opened(c))
        await bench.run_to(60, closed(c, 60))
        await bench.run_to(60 + FOLD_AFTER.total_seconds() - 30)
        receiver.script.clear()
        await bench.run_to(60 + FOLD_AFTER.total_seconds() - 20)
        assert [e["type"] for e in events(receiver)] == ["region.failing"]
        await bench.run_to(2000)
    assert [e["type"] for e in events(receiver)] == ["region.failing", "region.recovered"]
    assert "folded" not in events(receiver)[1]


async def test_a_dead_letter_resent_after_its_problem_ended_goes_as_resolved(
    bench: Bench,
) -> None:
    """A dead failing re-sent once its region has recovered is sent as the recovery."""
    async with receiving() as receiver:
        bench.add("ops", receiver, Noise(group_window=WINDOW))
        receiver.script.append(Answer(400))
        c = condition(0)
        await bench.run_to(0, opened(c))
        [dead] = await bench.store.dead_letters()
        await bench.run_to(600, closed(c, 600))
        assert [e["type"] for e in events(receiver)] == ["region.recovered"]
        assert await bench.store.outbox_resend(dead["key"])
        await bench.run_to(1000)
    resent = receiver.accepted[-1]
    assert resent.headers["idempotency-key"] == dead["key"]
    body = json.loads(resent.body)["event"]
    assert body["type"] == "region.recovered" and body["resolved"] is True
    assert body["id"] == closed(c, 600).id
    assert [f["id"] for f in body["folded"]] == [opened(c).id]


@pytest.mark.parametrize(("every", "expected"), [(timedelta(hours=1), [1, 2, 3]), (None, [])])
async def test_an_open_problem_is_reminded_every_remind_every_and_not_after_it_ends(
    bench: Bench, every: timedelta | None, expected: list[int]
) -> None:
    """While a region fails, its channel is reminded every `remind_every` (null: never);
    once it recovered, no more."""
    async with receiving() as receiver:
        bench.add("ops", receiver, Noise(group_window=WINDOW, remind_every=every))
        c = condition(0)
        await bench.run_to(0, opened(c))
        await bench.run_to(3599)
        assert len(receiver.accepted) == 1
        await bench.run_to(3 * 3600 + 60, closed(c, 3 * 3600 + 60))
        await bench.run_to(10 * 3600)
    got = events(receiver)
    assert [e["reminder"] for e in got if "reminder" in e] == expected
    assert [e["id"] for e in got[1:-1]] == [opened(c).id] * len(expected)
    assert got[-1]["type"] == "region.recovered"
    keys = [r.headers["idempotency-key"] for r in receiver.accepted]
    assert len(set(keys)) == len(keys)


async def test_no_reminder_while_the_region_is_silenced(bench: Bench) -> None:
    """A reminder falling due while its region is silenced is not sent; it is within a minute
    of the silence's end."""
    silenced = {"westeurope"}
    async with receiving() as receiver:
        bench.add(
            "ops",
            receiver,
            Noise(group_window=WINDOW, remind_every=timedelta(hours=1)),
            silenced=lambda: silenced,
        )
        await bench.run_to(0, opened(condition(0)))
        await bench.run_to(2 * 3600)
        assert len(receiver.accepted) == 1
        silenced.clear()
        await bench.run_to(2 * 3600 + 60)
    assert [e.get("reminder") for e in events(receiver)] == [None, 1]


async def test_reminders_go_on_across_a_restart(tmp_path: Path) -> None:
    """Reminders are counted in the outbox: after the store is closed and reopened they go on
    at the same pace, numbered on."""
    clock = ManualClock(START)
    path = tmp_path / "s.db"
    noise = Noise(group_window=WINDOW, remind_every=timedelta(hours=1))
    c = condition(0)
    async with receiving() as receiver:
        for until, record in ((3600 + 60, [opened(c)]), (2 * 3600 + 60, [])):
            store = Store(
                path, clock=clock, retention=timedelta(days=1), route_alerts=lambda e: ["ops"]
            )
            await store.open()
            bench = Bench(store, clock)
            bench.add("ops", receiver, noise)
            if record:
                await bench.run_to(0, *record)
            await bench.run_to(until)
            await bench.stop()
            await store.close()
    got = events(receiver)
    assert [e.get("reminder") for e in got] == [None, 1, 2]
    assert clock.now() == START + timedelta(seconds=2 * 3600 + 60)


class _Any:
    def __eq__(self, other: object) -> bool:
        return True


ANY = _Any()


async def test_a_fact_is_never_reminded(bench: Bench) -> None:
    """A fact (a deploy recorded, an endpoint disabled) opens no problem: it is sent once and
    never reminded, however long after."""
    deploy = fact(
        EventType.DEPLOY_RECORDED,
        key="deploy/d1",
        severity=Severity.INFO,
        region="westeurope",
        at=START,
        summary="deploy of v2 to westeurope detected",
        evidence={"id": "d1"},
        instance="test",
    )
    async with receiving() as receiver:
        bench.add("ops", receiver, Noise(group_window=WINDOW, remind_every=timedelta(hours=1)))
        await bench.run_to(0, deploy)
        await bench.run_to(5 * 3600)
    assert [e["type"] for e in events(receiver)] == ["deploy.recorded"]


async def test_a_fact_is_sent_at_once_even_after_another_of_its_kind_within_the_window(
    bench: Bench,
) -> None:
    """Facts are occurrences, not a problem's changes: a second `monitor.stopping` a minute
    after the first (a restart, then another stop) goes at once, not held for grouping, so a
    stop's drain can deliver it."""

    def stopping(t: float) -> Event:
        return fact(
            EventType.MONITOR_STOPPING,
            key="monitor/test/stopping",
            severity=Severity.INFO,
            region=None,
            at=START + timedelta(seconds=t),
            summary=f"stopping {t}",
            evidence={},
            instance="test",
        )

    async with receiving() as receiver:
        bench.add("ops", receiver, Noise(group_window=WINDOW))
        await bench.run_to(0, stopping(0))
        await bench.run_to(60, stopping(60))
        assert [e["summary"] for e in events(receiver)] == ["stopping 0", "stopping 60"]
    assert all("grouped" not in e for e in events(receiver))
