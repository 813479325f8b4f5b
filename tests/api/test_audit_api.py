"""`GET /api/v1/audit` over the real app on loopback: the whole trail in one place (a
person's commands, regionwatch's own decisions, pins, silences and the pause as each started
and ended), each with who and why, newest first, filtered and paged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from servers import serving_service
from verdicts import START, verdict

from lab.origin import RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.evidence import RoundFinished
from monitor.results import RegionStatus
from monitor.service import Service

ConfigWriter = Callable[..., Path]
TOKEN = "w-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@asynccontextmanager
async def served(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> AsyncIterator[tuple[httpx.AsyncClient, Service, ManualClock]]:
    """The app in enforce mode with `api.token`, no schedule, on a manual clock."""
    config = load_config(
        write_config(
            two_regions,
            api={"listen": "127.0.0.1:0", "token": TOKEN},
            failover={"mode": "enforce"},
        )
    )
    clock = ManualClock(START)
    async with (
        serving_service(config, schedule=False, clock=clock) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield client, service, clock


async def healthy(service: Service, clock: ManualClock) -> None:
    """A healthy round of each region, a second later: evidence at the clock's time."""
    clock.advance(1)
    for region in ("westeurope", "centralus"):
        await service.engine.apply(
            RoundFinished(verdict(region, RegionStatus.HEALTHY, clock.now()))
        )
    await service.engine.settle()


async def walk(client: httpx.AsyncClient, service: Service, clock: ManualClock) -> None:
    """Pin and unpin, a silence that expires, pause and resume, a forced disable and an
    enable: each by a person, a second apart."""

    async def write(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        clock.advance(1)
        answer = await client.request(method, path, headers=AUTH, **kwargs)
        assert answer.is_success, answer.text
        body: dict[str, Any] = answer.json()
        return body

    await healthy(service, clock)
    await write(
        "POST",
        "/api/v1/regions/westeurope/pin",
        json={"reason": "investigating", "by": "alice", "for": "1h"},
    )
    await write(
        "POST", "/api/v1/regions/westeurope/unpin", json={"reason": "found it", "by": "alice"}
    )
    await write(
        "POST",
        "/api/v1/silences",
        json={"region": "centralus", "reason": "cluster upgrade", "by": "bob", "for": "30m"},
    )
    clock.advance(30 * 60)
    await healthy(service, clock)  # the silence ends by itself
    await write("POST", "/api/v1/pause", json={"reason": "Azure incident", "by": "carol"})
    await write("DELETE", "/api/v1/pause", params={"reason": "incident over", "by": "carol"})
    await write(
        "POST",
        "/api/v1/regions/westeurope/disable",
        json={"reason": "database migration", "by": "dave", "force": True},
    )
    await write(
        "POST",
        "/api/v1/regions/westeurope/enable",
        json={"reason": "migration done", "by": "erin"},
    )
    await service.engine.settle()


async def test_the_audit_trail_holds_every_command_and_control_with_who_and_why(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """After a walk through every control, `GET /api/v1/audit` lists, newest first: the
    enable and the forced disable (result, `by`, `source`, forced, reason), the pause's end and
    start by carol, the silence's expiry by regionwatch and its start by bob, the pin's end and
    start by alice; each entry's summary says who and why."""
    async with served(two_regions, write_config) as (client, service, clock):
        await walk(client, service, clock)
        answer = await client.get("/api/v1/audit")
        assert answer.status_code == 200, answer.text
        entries = answer.json()["entries"]
        assert answer.json()["next"] is None
        held, *people = entries
        # erin's enable holds westeurope in until it recovers: a pin in her name.
        assert (held["kind"], held["change"], held["by"]) == ("pin", "started", "erin")
        assert held["reason"].startswith("enabled by erin via regionwatch: migration done")
        seen = [(e["kind"], e["change"], e["region"], e["by"], e["reason"]) for e in people]
        assert seen == [
            ("action", "enable", "westeurope", "erin", "migration done"),
            ("action", "disable", "westeurope", "dave", "database migration"),
            ("pause", "ended", None, "carol", "incident over"),
            ("pause", "started", None, "carol", "Azure incident"),
            ("silence", "ended", "centralus", "regionwatch", "expired at 2026-11-02 14:30:04 UTC"),
            ("silence", "started", "centralus", "bob", "cluster upgrade"),
            ("pin", "ended", "westeurope", "alice", "found it"),
            ("pin", "started", "westeurope", "alice", "investigating"),
        ], entries
        enable, disable = people[0], people[1]
        assert (disable["result"], disable["forced"], disable["source"]) == ("done", True, "manual")
        assert (enable["result"], enable["forced"], enable["source"]) == ("done", False, "manual")
        assert disable["summary"] == (
            "disable of westeurope done by dave (forced): database migration"
        )
        assert people[5]["until"] == "2026-11-02T14:30:04Z"
        assert people[5]["summary"] == (
            "silence of centralus started by bob until 2026-11-02 14:30:04 UTC: cluster upgrade"
        )
        assert people[3]["summary"] == "pause started by carol until ended: Azure incident"
        for entry in entries:
            assert entry["by"] and entry["reason"], entry
        full = (await client.get(f"/api/v1/actions/{disable['id']}")).json()
        assert (full["by"], full["forced"]) == ("dave", True)


async def test_the_audit_trail_pages_newest_first_and_filters_by_region_and_time(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Pages of two, following `next`, give the whole trail once, in order; `region` keeps
    that region's entries and the pauses; `since` keeps those at or after it; a `before` that
    is no cursor is a 422."""
    async with served(two_regions, write_config) as (client, service, clock):
        await walk(client, service, clock)
        whole = (await client.get("/api/v1/audit")).json()["entries"]
        paged: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            page = (await client.get("/api/v1/audit", params=params)).json()
            assert len(page["entries"]) <= 2
            paged += page["entries"]
            if page["next"] is None:
                break
            params["before"] = page["next"]
        assert paged == whole and len(whole) >= 8
        central = (await client.get("/api/v1/audit", params={"region": "CentralUS"})).json()
        assert {(e["kind"], e["region"]) for e in central["entries"]} == {
            ("silence", "centralus"),
            ("pause", None),
        }
        since = whole[2]["at"]
        recent = (await client.get("/api/v1/audit", params={"since": since})).json()
        assert recent["entries"] == [e for e in whole if e["at"] >= since]
        assert 0 < len(recent["entries"]) < len(whole)
        bad = await client.get("/api/v1/audit", params={"before": "yesterday"})
        assert bad.status_code == 422
        assert "before" in bad.json()["detail"]
