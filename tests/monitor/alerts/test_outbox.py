"""The alert outbox in a real SQLite store: written with its events, routed by problem, re-sent
and pruned."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storefaults import read_only, writable

from monitor.clock import ManualClock
from monitor.errors import StoreError
from monitor.events import Event, EventType, Severity
from monitor.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)


def opened(n: int, region: str = "westeurope", severity: Severity = Severity.CRITICAL) -> Event:
    at = START + timedelta(seconds=n)
    return Event(
        id=f"open{n}",
        type=EventType.REGION_FAILING,
        severity=severity,
        region=region,
        at=at,
        since=at,
        summary=f"{region} is failing",
        evidence={},
        instance="test",
        problem=f"region/{region}",
    )


def closed(of: Event, n: int) -> Event:
    return replace(
        of,
        id=f"close{n}",
        type=EventType.REGION_RECOVERED,
        severity=Severity.INFO,
        at=START + timedelta(seconds=n),
        resolved=True,
    )


def critical_only(event: Event) -> list[str]:
    """A channel taking critical events only: a resolution (info) is not routed by itself."""
    return ["ops"] if event.severity is Severity.CRITICAL else []


@pytest.fixture
def route_alerts() -> Callable[[Event], list[str]]:
    return critical_only


def rows(store: Store) -> list[tuple[str, str, str]]:
    with sqlite3.connect(store.path) as db:
        return [
            (str(e), str(c), str(s))
            for e, c, s in db.execute("SELECT event_id, channel, state FROM outbox ORDER BY seq")
        ]


async def test_an_event_stored_twice_is_one_alert(store: Store) -> None:
    """Storing the same event again (a replayed write, a restart) queues no second alert."""
    await store.record_events([opened(1)])
    await store.record_events([opened(1)])
    assert rows(store) == [("open1", "ops", "pending")]


async def test_a_resolution_follows_its_problem_whatever_its_severity(store: Store) -> None:
    """The channel took the critical opening, so it gets the info resolution too; a problem
    it never took sends it nothing."""
    failing = opened(1)
    warning = opened(2, "centralus", Severity.WARNING)
    await store.record_events([failing, warning])
    await store.record_events([closed(failing, 3), replace(closed(warning, 4), id="close4")])
    assert rows(store) == [("open1", "ops", "pending"), ("close3", "ops", "pending")]


async def test_no_alert_without_its_event(store: Store) -> None:
    """A write the store refuses stores neither the event nor its alert: one transaction."""
    await read_only(store)
    with pytest.raises(StoreError):
        await store.record_events([opened(1)])
    await writable(store)
    assert rows(store) == []
    await store.record_events([opened(1)])
    assert rows(store) == [("open1", "ops", "pending")]


async def test_a_dead_letter_resent_goes_behind_its_lane(store: Store) -> None:
    """Re-sending a dead letter makes it pending again, after what its region already holds,
    with a fresh retry budget; an unknown or undead key is refused."""
    await store.record_events([opened(1)])
    [head] = await store.outbox_heads("ops")
    await store.outbox_finish(head.seq, dead=True, error="HTTP 400")
    await store.record_events([opened(2)])
    assert await store.outbox_resend(head.key) is True
    assert await store.outbox_resend(head.key) is False  # pending now, not dead
    assert await store.outbox_resend("no-such-key") is False
    assert [r[0] for r in rows(store)] == ["open2", "open1"]
    [next_head] = await store.outbox_heads("ops")
    assert next_head.event["id"] == "open2" and next_head.attempts == 0


async def test_pruning_keeps_pending_alerts_and_where_each_problem_went(
    tmp_path: Path,
) -> None:
    """Delivered rows past the retention go, except each problem's last row per channel (its
    resolution must still find the channel); pending rows stay however old."""
    clock = ManualClock(START)
    store = Store(tmp_path / "s.db", clock=clock, retention=timedelta(days=1))
    store.route_alerts = critical_only
    await store.open()
    try:
        west, central = opened(1), opened(2, "centralus")
        await store.record_events([west, opened(3, "northeurope")])
        for head in await store.outbox_heads("ops"):
            await store.outbox_finish(head.seq, dead=False)
        await store.record_events([closed(west, 4)])
        [resolution] = await store.outbox_heads("ops")
        await store.outbox_finish(resolution.seq, dead=False)
        await store.record_events([central])  # stays pending
        clock.advance(timedelta(days=2).total_seconds())
        await store.prune()
        assert sorted(rows(store)) == [
            ("close4", "ops", "delivered"),  # westeurope's last word
            ("open2", "ops", "pending"),
            ("open3", "ops", "delivered"),  # northeurope's problem is still open
        ]
    finally:
        await store.close()
