"""Alerts from a real service: its events reach a loopback receiver through the outbox, and
from memory when the store cannot take them."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alertreceiver import Receiver, receiving
from servers import eventually
from storefaults import read_only, writable

from lab.origin import Fault, RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.service import Service, build_service

ConfigWriter = Callable[..., Path]
START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def events(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body)["event"] for r in receiver.accepted]


def types(receiver: Receiver, region: str | None = "westeurope") -> list[str]:
    return [e["type"] for e in events(receiver) if e["region"] == region]


async def rounds(service: Service, clock: ManualClock, n: int = 1) -> None:
    for _ in range(n):
        await asyncio.gather(*(service.run_round(r) for r in service.rounds.regions))
        clock.advance(1)
        await service.engine.settle()


async def test_a_failing_region_and_its_recovery_reach_the_receiver(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """The service queues its events for the configured channel and delivers them: failing,
    then recovered, with the dashboard link; the stored outbox says delivered."""
    clock = ManualClock(START)
    async with receiving() as receiver:
        channel = {"name": "ops", "type": "webhook", "url": receiver.url, "min_severity": "info"}
        path = write_config(
            two_regions,
            alerts=[channel],
            alerting={"group_window": "0s"},
            api={"public_url": "https://regionwatch.example.com"},
        )
        config = load_config(path)
        async with build_service(config, clock=clock) as service:
            await rounds(service, clock)
            two_regions["westeurope"].inject(Fault.ERROR, status=503)
            await rounds(service, clock)
            await eventually(lambda: "region.failing" in types(receiver))
            two_regions["westeurope"].heal()
            await rounds(service, clock)
            await eventually(lambda: "region.recovered" in types(receiver))
        assert types(receiver) == ["region.failing", "region.recovered"]
        assert json.loads(receiver.accepted[0].body)["link"] == "https://regionwatch.example.com"
    with sqlite3.connect(config.storage.path) as db:
        states = {s for (s,) in db.execute("SELECT state FROM outbox")}
    assert states == {"delivered"}


async def test_events_the_store_cannot_take_are_alerted_from_memory(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """With every write refused, the region's failure and the monitor's blindness (the store
    failing) still reach the receiver; nothing of them is in the outbox."""
    clock = ManualClock(START)
    async with receiving() as receiver:
        channel = {"name": "ops", "type": "webhook", "url": receiver.url}
        config = load_config(write_config(two_regions, alerts=[channel]))
        async with build_service(config, clock=clock) as service:
            await rounds(service, clock)
            await read_only(service.store)
            two_regions["westeurope"].inject(Fault.ERROR, status=503)
            await rounds(service, clock, 2)
            await eventually(lambda: "region.failing" in types(receiver))
            await eventually(lambda: "monitor.blind" in types(receiver, None))
            await writable(service.store)
    with sqlite3.connect(config.storage.path) as db:
        queued = [t for (t,) in db.execute("SELECT json_extract(event, '$.type') FROM outbox")]
    assert "region.failing" not in queued
