"""The service end to end on loopback: rounds on schedule, verdicts, history across a restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from servers import eventually
from storefaults import overwrite_pages, pages_of, store_with_history

from lab.origin import Fault, RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.errors import StoreCorrupt
from monitor.events import EventType
from monitor.eventstore import EventQuery
from monitor.evidence import SchedulerChanged
from monitor.results import RegionStatus
from monitor.scheduler import RoundScheduler
from monitor.service import Service, build_service
from monitor.snapshot import Snapshot

ConfigWriter = Callable[..., Path]
START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


async def test_rounds_run_on_schedule_for_every_region(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Each region gets round after round, and each round probes every request of that region."""
    served_before = two_regions["centralus"].requests_served
    async with build_service(load_config(write_config(two_regions))) as service:
        service.start()
        await eventually(lambda: min(v.rounds_done for v in service.snapshot.regions.values()) >= 3)
    # 4 requests per round, at least 3 rounds.
    assert two_regions["centralus"].requests_served - served_before >= 12


async def test_a_fault_turns_the_region_failing_and_healing_brings_it_back(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """The verdict follows the region round by round (driven by hand on the manual clock):
    failing while broken, healthy after it heals, the other region untouched."""
    config = load_config(write_config(two_regions))
    clock = ManualClock(START)

    async def round_of_both(service: Service) -> Snapshot:
        await asyncio.gather(*(service.run_round(region) for region in two_regions))
        clock.advance(1)
        return await service.engine.settle()

    async with build_service(config, clock=clock) as service:
        first = await round_of_both(service)
        assert first.regions["westeurope"].status is RegionStatus.HEALTHY
        two_regions["westeurope"].inject(Fault.ERROR, status=503)
        broken = await round_of_both(service)
        assert broken.regions["westeurope"].status is RegionStatus.FAILING
        assert broken.regions["centralus"].status is RegionStatus.HEALTHY
        two_regions["westeurope"].heal()
        healed = await round_of_both(service)
        assert healed.regions["westeurope"].status is RegionStatus.HEALTHY


async def test_history_streaks_and_open_conditions_survive_a_restart(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A new process over the same store starts from the old verdicts, streaks and open
    conditions before its own first round, and does not announce them again."""
    config = load_config(write_config(two_regions))
    clock = ManualClock(START)
    two_regions["westeurope"].inject(Fault.ORIGIN_DOWN)
    async with build_service(config, clock=clock) as first:
        for _ in range(2):
            await first.run_round("westeurope")
            clock.advance(1)
        await first.engine.apply(SchedulerChanged(running=False))
        events = first.snapshot.conditions
    assert events["region/westeurope"].type is EventType.REGION_FAILING

    clock.advance(1)  # a quick restart: within the streak gap (3 intervals of 1s)
    async with build_service(config, clock=clock) as second:
        restored = second.snapshot
        assert restored.regions["westeurope"].status is RegionStatus.FAILING
        assert restored.regions["westeurope"].rounds_done == 0
        assert restored.regions["westeurope"].streak is not None
        assert restored.regions["westeurope"].streak.rounds == 2
        assert restored.conditions["region/westeurope"].since == START
        results = await second.store.results("westeurope", check="home-cached", limit=10)
        assert results and all("stale copy" in r.reason for r in results)
        await second.run_round("westeurope")
        after = await second.engine.apply(SchedulerChanged(running=False))
        assert after.regions["westeurope"].streak is not None
        assert after.regions["westeurope"].streak.rounds == 3  # the streak went on
        await second.engine.stop()
        stored = await second.store.events(EventQuery(region="westeurope"))
    # One `region.failing`, from the first process; the second one found it open.
    assert [s.event.type for s in stored] == [EventType.REGION_FAILING]


async def test_a_stepped_scenario_of_12_rounds_runs_on_the_manual_clock(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Twelve rounds at a 10 s interval with westeurope failing from round 4 to round 7,
    driven by hand on the manual clock (no scheduler, no real sleeps: anything waiting on wall
    time would hang, not slow down): the streaks count the rounds, and the events say failing
    once and recovered once, at the clock's times."""
    config = load_config(write_config(two_regions, checks=_checks(interval="10s")))
    clock = ManualClock(START)
    seen: list[tuple[int, RegionStatus, int]] = []
    async with build_service(config, clock=clock) as service:
        for round_number in range(1, 13):
            if round_number == 4:
                two_regions["westeurope"].inject(Fault.ERROR, status=500)
            if round_number == 8:
                two_regions["westeurope"].heal()
            await asyncio.gather(service.run_round("westeurope"), service.run_round("centralus"))
            snapshot = await service.engine.apply(SchedulerChanged(running=False))
            view = snapshot.regions["westeurope"]
            assert view.streak is not None
            seen.append((round_number, view.status, view.streak.rounds))
            clock.advance(10)
        await service.engine.stop()
        stored = await service.store.events(EventQuery(region="westeurope"))
    assert [s for _, s, _ in seen] == [RegionStatus.HEALTHY] * 3 + [RegionStatus.FAILING] * 4 + [
        RegionStatus.HEALTHY
    ] * 5
    assert [n for _, _, n in seen] == [1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 4, 5]
    changes = [(s.event.type, s.event.at) for s in reversed(stored)]
    assert changes == [
        (EventType.REGION_FAILING, START + timedelta(seconds=30)),
        (EventType.REGION_RECOVERED, START + timedelta(seconds=70)),
    ]


def _checks(**https: object) -> dict[str, object]:
    from lab.sandbox import MODEL_REQUESTS

    return {"https": {"interval": "1s", "timeout": "1s", "requests": MODEL_REQUESTS, **https}}


async def test_a_round_never_overlaps_itself() -> None:
    """A round slower than the interval is not started again until it finishes (max_instances=1)."""
    running: dict[str, int] = {"now": 0, "most": 0, "done": 0}

    async def slow_round(region: str) -> None:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        await asyncio.sleep(0.35)
        running["now"] -= 1
        running["done"] += 1

    async def nothing() -> None:
        return None

    scheduler = RoundScheduler(
        ["westeurope"],
        interval=timedelta(seconds=0.1),
        jitter=timedelta(0),
        run_round=slow_round,
        housekeeping=nothing,
    )
    scheduler.start()
    try:
        await eventually(lambda: running["done"] >= 3)
    finally:
        await scheduler.shutdown()
    assert running["most"] == 1
    assert running["now"] == 0  # the round in flight at shutdown was let finish


async def test_a_corrupt_store_stops_the_start_before_any_round(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A store with a damaged data page: building the service raises StoreCorrupt naming the
    file, and no round runs."""
    config = load_config(write_config(two_regions))
    path = config.storage.path
    await store_with_history(path, datetime.now(UTC) - timedelta(hours=1))
    leaves = pages_of(path, "results", kind="leaf")
    overwrite_pages(path, [leaves[len(leaves) // 2]])
    served_before = two_regions["westeurope"].requests_served
    with pytest.raises(StoreCorrupt, match=f"the store at {path} is corrupt"):
        async with build_service(config) as service:
            service.start()
    assert two_regions["westeurope"].requests_served == served_before


async def test_a_stop_cancels_a_job_still_running_after_the_grace_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A round that never ends is cancelled once the grace has passed: the stop returns with
    the job over, and no error is logged for it."""
    stuck: list[asyncio.Task[object] | None] = []

    async def never_ending_round(region: str) -> None:
        stuck.append(asyncio.current_task())
        await asyncio.Event().wait()

    async def nothing() -> None:
        return None

    scheduler = RoundScheduler(
        ["westeurope"],
        interval=timedelta(hours=1),
        jitter=timedelta(0),
        run_round=never_ending_round,
        housekeeping=nothing,
    )
    scheduler.start()
    await eventually(lambda: bool(stuck))
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(scheduler.shutdown(grace=0.1), timeout=5)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert [e["event"] for e in logs] == ["job_cancelled_at_stop"]
    task = stuck[0]
    assert task is not None and task.done()


async def test_no_more_probes_are_in_flight_than_the_concurrency(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Both regions' rounds at once with `concurrency: 3` and every answer hanging: three
    probes hold a connection, the others wait their turn without starting (their timeout has
    not begun), and every probe runs in the end."""
    for origin in two_regions.values():
        origin.inject(Fault.HANG)
    config = load_config(write_config(two_regions, checks=_checks(concurrency=3)))
    async with build_service(config, clock=ManualClock(START)) as service:
        rounds = service.rounds
        running = asyncio.gather(*(rounds.run(region) for region in two_regions))
        await eventually(lambda: rounds.in_flight == 3 and rounds.waiting == 5)
        handshakes = sum(o.tls_handshakes for o in two_regions.values())
        assert handshakes <= 3  # the waiting ones have not connected
        for origin in two_regions.values():
            origin.heal()
        verdicts = await running
    assert (rounds.in_flight, rounds.waiting) == (0, 0)
    assert all(len(v.results) == 4 for v in verdicts)
