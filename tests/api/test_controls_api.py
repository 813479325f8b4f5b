"""Pins, silences and the pause through the real app on loopback: each write with its token
check and the actor recorded, the reads, the stored records, and expiry on a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import serving_service
from verdicts import START, verdict

from lab.origin import RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.events import EventType
from monitor.eventstore import EventQuery
from monitor.evidence import RoundFinished
from monitor.results import RegionStatus
from monitor.service import Service

ConfigWriter = Callable[..., Path]
TOKEN = "w-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Served = tuple[httpx.AsyncClient, Service, ManualClock]


@asynccontextmanager
async def served(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    clock: ManualClock | None = None,
) -> AsyncIterator[Served]:
    """The app with `api.token`, no schedule, on a manual clock (the same store each time in
    one test: a restart)."""
    config = load_config(write_config(two_regions, api={"listen": "127.0.0.1:0", "token": TOKEN}))
    clock = clock or ManualClock(START)
    async with (
        serving_service(config, schedule=False, clock=clock) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield client, service, clock


async def a_round(service: Service, clock: ManualClock, region: str = "westeurope") -> None:
    """A healthy round of `region`, applied and recorded: evidence at the clock's time."""
    await service.engine.apply(RoundFinished(verdict(region, RegionStatus.HEALTHY, clock.now())))
    await service.engine.settle()


async def events(service: Service, kind: EventType) -> list[dict[str, Any]]:
    await service.engine.settle()
    stored = await service.store.events(EventQuery(type=kind))
    return [
        {"summary": s.event.summary, "region": s.event.region, **s.event.evidence}
        for s in reversed(stored)
    ]


WRITES = [
    ("POST", "/api/v1/regions/westeurope/pin", {"reason": "r", "for": "1h"}),
    ("POST", "/api/v1/regions/westeurope/unpin", {"reason": "r"}),
    ("POST", "/api/v1/silences", {"region": "westeurope", "reason": "r", "for": "1h"}),
    ("DELETE", "/api/v1/silences/some-id", None),
    ("POST", "/api/v1/pause", {"reason": "r"}),
    ("DELETE", "/api/v1/pause", None),
]


async def test_every_control_write_needs_api_token(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Pin, unpin, silence, end a silence, pause, resume: 401 without a bearer token, 403 with
    a wrong one, in the API's error shape, never echoing the token; nothing stored or in
    force."""
    async with served(two_regions, write_config) as (client, service, _):
        for method, path, body in WRITES:
            for headers, status in (({}, 401), ({"Authorization": "Bearer nope"}, 403)):
                answer = await client.request(method, path, json=body, headers=headers)
                assert answer.status_code == status, (method, path, answer.text)
                assert set(answer.json()) == {"status", "error", "detail"}
                assert "nope" not in answer.text
        assert await service.store.controls() == []
        assert service.snapshot.controls.items == ()


async def test_a_pin_is_stored_with_its_actor_shown_listed_and_ended_by_unpin(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """POST .../pin answers 201 with the stored record (who, why, since, until); the region's
    policy is `pinned` saying so, `GET /api/v1/pins` lists it, `pin.started` names the actor;
    unpin answers it ended by whom and why (`pin.ended`), and the pin list is empty again."""
    async with served(two_regions, write_config) as (client, service, _):
        answer = await client.post(
            "/api/v1/regions/WestEurope/pin",
            json={"reason": "investigating", "by": "alice@ops-1", "for": "2h"},
            headers=AUTH,
        )
        assert answer.status_code == 201, answer.text
        pin = answer.json()
        assert pin == {
            "id": pin["id"],
            "kind": "pin",
            "region": "westeurope",
            "reason": "investigating",
            "by": "alice@ops-1",
            "since": "2026-11-02T14:00:00Z",
            "until": "2026-11-02T16:00:00Z",
            "ended_at": None,
            "ended_by": None,
            "end_reason": None,
        }
        (stored,) = await service.store.controls()
        assert (stored.id, stored.by) == (pin["id"], "alice@ops-1")
        regions = (await client.get("/api/v1/regions")).json()
        west = next(r for r in regions["regions"] if r["name"] == "westeurope")
        assert west["policy"]["state"] == "pinned"
        assert west["policy"]["reason"] == (
            "pinned by alice@ops-1 until 2026-11-02 16:00:00 UTC: investigating"
        )
        assert regions["pause"] is None
        assert (await client.get("/api/v1/pins")).json() == {"controls": [pin]}
        (started,) = await events(service, EventType.PIN_STARTED)
        assert (started["region"], started["by"]) == ("westeurope", "alice@ops-1")

        unpinned = await client.post(
            "/api/v1/regions/westeurope/unpin",
            json={"reason": "cache fixed", "by": "bob@ops-2"},
            headers=AUTH,
        )
        assert unpinned.status_code == 200, unpinned.text
        assert unpinned.json() == {
            **pin,
            "ended_at": "2026-11-02T14:00:00Z",
            "ended_by": "bob@ops-2",
            "end_reason": "cache fixed",
        }
        assert (await client.get("/api/v1/pins")).json() == {"controls": []}
        everything = (await client.get("/api/v1/pins", params={"all": "true"})).json()
        assert everything == {"controls": [unpinned.json()]}
        (ended,) = await events(service, EventType.PIN_ENDED)
        assert (ended["ended_by"], ended["end_reason"]) == ("bob@ops-2", "cache fixed")
        again = await client.post(
            "/api/v1/regions/westeurope/unpin", json={"reason": "again"}, headers=AUTH
        )
        assert again.status_code == 409
        assert again.json()["detail"] == "westeurope is not pinned"


@pytest.mark.parametrize(
    ("path", "body", "status", "named"),
    [
        ("/api/v1/regions/westeurop/pin", {"reason": "r", "for": "1h"}, 404, "westeurop"),
        ("/api/v1/regions/westeurope/pin", {"for": "1h"}, 422, "body.reason"),
        ("/api/v1/regions/westeurope/pin", {"reason": "  ", "for": "1h"}, 422, "body.reason"),
        ("/api/v1/regions/westeurope/pin", {"reason": "r"}, 422, "body.for"),
        ("/api/v1/regions/westeurope/pin", {"reason": "r", "for": "8d"}, 422, "at most 7d"),
        ("/api/v1/regions/westeurope/pin", {"reason": "r", "for": "0s"}, 422, "longer than 0"),
        ("/api/v1/regions/westeurope/unpin", {}, 422, "body.reason"),
        ("/api/v1/silences", {"region": "nowhere", "reason": "r", "for": "1h"}, 404, "nowhere"),
        ("/api/v1/silences", {"region": "westeurope", "for": "1h"}, 422, "body.reason"),
        ("/api/v1/pause", {"for": "1h"}, 422, "body.reason"),
        ("/api/v1/pause", {"reason": "r\nx"}, 422, "body.reason"),
    ],
)
async def test_an_unknown_region_is_404_and_a_missing_reason_422(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    path: str,
    body: dict[str, str],
    status: int,
    named: str,
) -> None:
    """A region that is not configured is a 404 naming it; a reason missing, blank or on two
    lines, a duration missing, zero or over 7d is a 422 naming the field; nothing stored."""
    async with served(two_regions, write_config) as (client, service, _):
        answer = await client.post(path, json=body, headers=AUTH)
        assert answer.status_code == status, answer.text
        assert named in answer.json()["detail"]
        assert await service.store.controls() == []


async def test_a_silence_is_listed_and_ends_by_itself_at_its_end(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A silence for 10 minutes is listed while in force; on the manual clock, the first
    evidence applied at its end ends it (`silence.ended`, by regionwatch, stored), the list is
    empty and `all` shows it over; another is ended by DELETE with the actor recorded."""
    async with served(two_regions, write_config) as (client, service, clock):
        posted = await client.post(
            "/api/v1/silences",
            json={"region": "westeurope", "reason": "cluster upgrade", "for": "10m", "by": "al"},
            headers=AUTH,
        )
        assert posted.status_code == 201, posted.text
        silence = posted.json()
        assert (silence["until"], silence["by"]) == ("2026-11-02T14:10:00Z", "al")
        assert (await client.get("/api/v1/silences")).json() == {"controls": [silence]}
        clock.advance(599)
        await a_round(service, clock)
        assert len((await client.get("/api/v1/silences")).json()["controls"]) == 1
        clock.advance(1)
        await a_round(service, clock)
        assert (await client.get("/api/v1/silences")).json() == {"controls": []}
        (over,) = (await client.get("/api/v1/silences", params={"all": "true"})).json()["controls"]
        assert (over["ended_at"], over["ended_by"]) == ("2026-11-02T14:10:00Z", "regionwatch")
        assert over["end_reason"] == "expired at 2026-11-02 14:10:00 UTC"
        (ended,) = await events(service, EventType.SILENCE_ENDED)
        assert ended["id"] == silence["id"]

        second = (
            await client.post(
                "/api/v1/silences",
                json={"region": "centralus", "reason": "upgrade", "for": "1h"},
                headers=AUTH,
            )
        ).json()
        deleted = await client.delete(
            f"/api/v1/silences/{second['id']}",
            params={"reason": "done early", "by": "bob"},
            headers=AUTH,
        )
        assert deleted.status_code == 200, deleted.text
        assert (deleted.json()["ended_by"], deleted.json()["end_reason"]) == ("bob", "done early")
        gone = await client.delete(f"/api/v1/silences/{second['id']}", headers=AUTH)
        assert gone.status_code == 404


async def test_the_pause_says_whether_why_by_whom_and_until_when_and_ends(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """POST /api/v1/pause for an hour: GET /api/v1/pause, /api/v1/regions and the dashboard
    say so (why, by whom, until when), `pause.started` too; DELETE resumes (the actor recorded), a second
    DELETE is a 409; a timed pause ends by itself at its end."""
    async with served(two_regions, write_config) as (client, service, clock):
        assert (await client.get("/api/v1/pause")).json() == {"paused": False, "pause": None}
        posted = await client.post(
            "/api/v1/pause",
            json={"reason": "Azure incident", "by": "al", "for": "1h"},
            headers=AUTH,
        )
        assert posted.status_code == 201, posted.text
        pause = posted.json()
        assert (pause["kind"], pause["region"], pause["until"]) == (
            "pause",
            None,
            "2026-11-02T15:00:00Z",
        )
        assert (await client.get("/api/v1/pause")).json() == {"paused": True, "pause": pause}
        assert (await client.get("/api/v1/regions")).json()["pause"] == pause
        page = (await client.get("/")).text
        assert '<section data-section="pause"><h2>failover paused</h2>' in page
        assert "paused by al until 2026-11-02 15:00:00 UTC: Azure incident" in page
        (started,) = await events(service, EventType.PAUSE_STARTED)
        assert started["summary"] == (
            "failover pause started: paused by al until 2026-11-02 15:00:00 UTC: Azure incident"
        )
        resumed = await client.delete("/api/v1/pause", params={"by": "bob"}, headers=AUTH)
        assert resumed.status_code == 200, resumed.text
        assert (resumed.json()["ended_by"], resumed.json()["end_reason"]) == ("bob", "resumed")
        assert (await client.get("/api/v1/pause")).json() == {"paused": False, "pause": None}
        assert (await client.delete("/api/v1/pause", headers=AUTH)).status_code == 409

        await client.post("/api/v1/pause", json={"reason": "short", "for": "30s"}, headers=AUTH)
        clock.advance(30)
        await a_round(service, clock)
        assert (await client.get("/api/v1/pause")).json() == {"paused": False, "pause": None}
        ended = await events(service, EventType.PAUSE_ENDED)
        assert [e["ended_by"] for e in ended] == ["bob", "regionwatch"]


async def test_a_restart_keeps_pins_silences_and_the_pause(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A pin, a silence and a pause posted, the service stopped and started again on the same
    store: all three are still in force, listed, and shown once the regions are judged."""
    clock = ManualClock(START)
    async with served(two_regions, write_config, clock) as (client, _, _):
        pin = await client.post(
            "/api/v1/regions/centralus/pin", json={"reason": "r1", "for": "1h"}, headers=AUTH
        )
        silence = await client.post(
            "/api/v1/silences",
            json={"region": "westeurope", "reason": "r2", "for": "1h"},
            headers=AUTH,
        )
        pause = await client.post("/api/v1/pause", json={"reason": "r3"}, headers=AUTH)
    clock.advance(60)
    async with served(two_regions, write_config, clock) as (client, service, _):
        assert (await client.get("/api/v1/pins")).json() == {"controls": [pin.json()]}
        assert (await client.get("/api/v1/silences")).json() == {"controls": [silence.json()]}
        assert (await client.get("/api/v1/pause")).json() == {"paused": True, "pause": pause.json()}
        await a_round(service, clock)  # the first evidence after the start judges the regions
        regions = {r["name"]: r for r in (await client.get("/api/v1/regions")).json()["regions"]}
        assert regions["centralus"]["policy"]["state"] == "pinned"
        assert regions["westeurope"]["policy"]["state"] == "silenced"
