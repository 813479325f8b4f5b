"""The monitor telling its own start and stop (`monitor.started`, `monitor.stopping`, delivered
before the stop completes), and the heartbeat dead-man's switch, on a real service over the
lab's origins with a loopback receiver."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from alertreceiver import Answer, Receiver, receiving
from servers import eventually

from lab.origin import RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator
from monitor.clock import ManualClock
from monitor.config import Config, load_config
from monitor.events import EventType
from monitor.eventstore import EventQuery
from monitor.evidence import SchedulerChanged
from monitor.release import RELEASE
from monitor.service import Service, build_service

ConfigWriter = Callable[..., Path]
START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
LIFECYCLE = {EventType.MONITOR_STARTED, EventType.MONITOR_STOPPING}


def channel(url: str) -> list[dict[str, Any]]:
    return [{"name": "ops", "type": "webhook", "url": url, "min_severity": "info"}]


def lifecycle_kinds(receiver: Receiver) -> list[str]:
    """The lifecycle event types the receiver accepted, in order (a deploy detected meanwhile
    may be among the alerts too)."""
    kinds = [json.loads(r.body)["event"]["type"] for r in receiver.accepted]
    return [k for k in kinds if k in {t.value for t in LIFECYCLE}]


async def lifecycle_events(config: Config) -> list[tuple[str, dict[str, Any]]]:
    """The lifecycle events the store of `config` holds, oldest first."""
    async with build_service(config) as service:
        stored = await service.store.events(EventQuery(limit=1000))
    return [
        (s.event.type.value, dict(s.event.evidence))
        for s in reversed(stored)
        if s.event.type in LIFECYCLE
    ]


async def test_a_service_that_starts_and_stops_records_started_and_stopping(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """`run`'s service tells its start and its stop, each with the release, the instance, the
    failover mode and the regions; the stop's alert reaches the receiver before the stop is
    over."""
    async with receiving() as receiver:
        config = load_config(write_config(two_regions, alerts=channel(receiver.url)))
        async with build_service(config) as service:
            service.start()
            await eventually(lambda: receiver.accepted)
        # The block is over: the service has stopped, its channels closed.
        kinds = lifecycle_kinds(receiver)
    assert kinds == ["monitor.started", "monitor.stopping"]
    events = await lifecycle_events(config)
    assert [kind for kind, _ in events] == ["monitor.started", "monitor.stopping"]
    for _, evidence in events:
        assert evidence["version"] == RELEASE
        assert evidence["mode"] == "dry-run"
        assert evidence["regions"] == list(config.regions)
        assert evidence["instance"]


async def test_check_records_neither_started_nor_stopping(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """`check`'s one round (which ends with the scheduler not running) is no start or stop
    of the monitor: no lifecycle event among its events."""
    config = load_config(write_config(two_regions))
    async with build_service(config, once=True) as service:
        await service.run_once()
        await service.engine.settle()
        stored = await service.store.events(EventQuery(limit=1000))
        assert service.heartbeat is None
    assert not [s for s in stored if s.event.type in LIFECYCLE]


async def test_the_stopping_alert_waits_for_a_slow_receiver_within_the_grace(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A receiver taking half a second to answer still gets `monitor.stopping` accepted
    before the stop completes (the channels get a bounded grace to deliver what is due)."""
    async with receiving() as receiver:
        config = load_config(write_config(two_regions, alerts=channel(receiver.url)))
        async with build_service(config) as service:
            service.start()
            await eventually(lambda: receiver.accepted)
            receiver.script.append(Answer(delay=0.5))
        kinds = lifecycle_kinds(receiver)
    assert kinds == ["monitor.started", "monitor.stopping"]


# --- the heartbeat ------------------------------------------------------------------------------


@pytest.fixture
def signed_in(seeded: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Azure SDK signs in to the emulator (and tries nothing else)."""
    for key, value in seeded.environment().items():
        monkeypatch.setenv(key, value)


def heartbeat_config(
    write_config: ConfigWriter,
    origins: dict[str, RegionalOrigin],
    tm: TrafficManagerEmulator,
    url: str,
    interval: str = "1m",
) -> Config:
    return load_config(
        write_config(
            origins,
            traffic_manager=tm.config_section(interval="1h"),
            alerting={"heartbeat": {"url": url, "interval": interval, "timeout": "2s"}},
        )
    )


async def rounds(service: Service) -> None:
    await asyncio.gather(*(service.run_round(r) for r in service.rounds.regions))
    await service.engine.settle()


async def test_the_heartbeat_beats_while_healthy_and_holds_while_blind(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    signed_in: None,
) -> None:
    """On the manual clock, one fetch per interval: none before the scheduler runs and a
    round is done; one per interval after; none while Traffic Manager cannot be read
    (`monitor.blind`); again once it can."""
    async with receiving() as receiver:
        config = heartbeat_config(write_config, two_regions, seeded, receiver.url)
        clock = ManualClock(START)
        async with build_service(config, clock=clock) as service:
            assert service.heartbeat is not None
            beat = service.heartbeat.beat
            assert await beat() is False  # scheduler not running
            await service.engine.apply(SchedulerChanged(running=True))
            assert await beat() is False  # no round yet
            await service.read_traffic_manager()
            await rounds(service)
            for _ in range(3):
                clock.advance(60)
                assert await beat() is True
            assert len(receiver.received) == 3
            seeded.faults.add(
                method="GET", path_contains="trafficmanagerprofiles", status=403, count=3
            )
            for _ in range(3):
                clock.advance(60)
                await service.read_traffic_manager()
            assert "blind/traffic-manager" in service.snapshot.conditions
            clock.advance(60)
            assert await beat() is False
            assert len(receiver.received) == 3
            await service.read_traffic_manager()
            assert "blind/traffic-manager" not in service.snapshot.conditions
            clock.advance(60)
            assert await beat() is True
            assert len(receiver.received) == 4
            await service.engine.apply(SchedulerChanged(running=False))


async def test_the_running_service_fetches_the_heartbeat_every_interval(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    signed_in: None,
) -> None:
    """`run`'s scheduler fetches the heartbeat URL on its interval once rounds are done."""
    async with receiving() as receiver:
        config = heartbeat_config(write_config, two_regions, seeded, receiver.url, "300ms")
        async with build_service(config) as service:
            service.start()
            await eventually(lambda: len(receiver.received) >= 2)
    assert all(r.body == b"" for r in receiver.received)


async def test_a_failed_heartbeat_is_logged_without_the_url_path(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    signed_in: None,
) -> None:
    """A 500, then a receiver that is gone: each fetch fails, `heartbeat_failed` is logged
    with the scheme and host only (the path is the check's secret), and nothing raises."""
    receiver_stack = AsyncExitStack()
    receiver = await receiver_stack.enter_async_context(receiving())
    url = receiver.url
    try:
        config = heartbeat_config(write_config, two_regions, seeded, url)
        async with build_service(config, clock=ManualClock(START)) as service:
            assert service.heartbeat is not None
            await service.engine.apply(SchedulerChanged(running=True))
            await rounds(service)
            receiver.script.append(Answer(status=500))
            with structlog.testing.capture_logs() as logs:
                assert await service.heartbeat.beat() is False
                await receiver_stack.aclose()  # nothing listens there any more
                assert await service.heartbeat.beat() is False
            await service.engine.apply(SchedulerChanged(running=False))
    finally:
        await receiver_stack.aclose()
    failed = [e for e in logs if e["event"] == "heartbeat_failed"]
    assert [f["error"] for f in failed] == ["answered HTTP 500", "could not fetch (ConnectError)"]
    assert all(f["url"] == url.split("/hooks")[0] for f in failed)
    assert "s3cr3t-path" not in repr(logs)
