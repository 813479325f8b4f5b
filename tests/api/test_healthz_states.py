"""`/healthz` for every failover policy state and every way of naming the region, over the real
app on loopback, with rounds submitted to the engine on a manual clock.

In enforce mode with no `traffic_manager` section, `/healthz` is the only lever: 503 exactly
when the policy holds the region out of rotation, 200 in every other state (the monitor fails
static), and 200 whatever the state in dry-run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from servers import serving_service
from verdicts import START, verdict

from lab.origin import RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.evidence import RoundFinished
from monitor.results import RegionStatus
from monitor.service import Service

ConfigWriter = Callable[..., Path]
TOKEN = "w-token-healthz-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEST = "westeurope"
FAILING, HEALTHY, UNKNOWN = RegionStatus.FAILING, RegionStatus.HEALTHY, RegionStatus.UNKNOWN


class Lab:
    """The app for two regions, no schedule: the test submits the rounds."""

    def __init__(self, client: httpx.AsyncClient, service: Service, clock: ManualClock) -> None:
        self.client = client
        self.service = service
        self.clock = clock

    async def rounds(self, *statuses: RegionStatus, region: str = WEST) -> None:
        """One round of `region` per status, a second apart (centralus healthy beside it),
        then whatever the policy decided carried out and reported back."""
        for status in statuses:
            self.clock.advance(1)
            for name, seen in ((region, status), ("centralus", HEALTHY)):
                await self.service.engine.apply(
                    RoundFinished(verdict(name, seen, self.clock.now()))
                )
        for _ in range(3):  # an outcome is evidence, which may decide again
            await self.service.engine.settle()
            assert self.service.actuator is not None
            await self.service.actuator.settle()
        await self.service.engine.settle()

    async def post(self, path: str, body: dict[str, Any]) -> None:
        answer = await self.client.post(path, json=body, headers=AUTH)
        assert answer.status_code in (200, 201), answer.text
        await self.rounds()  # applied and acted on before the next step

    async def deploy(self) -> None:
        await self.post("/api/v1/deploys", {"region": WEST, "version": "2.0.0"})

    async def healthz(self, region: str = WEST) -> tuple[int, str | None]:
        """The status code and the body's `policy` for `region`."""
        answer = await self.client.get("/healthz", params={"region": region})
        return answer.status_code, answer.json().get("policy")


@asynccontextmanager
async def lab(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter, **sections: Any
) -> AsyncIterator[Lab]:
    api = {"listen": "127.0.0.1:0", "token": TOKEN, **sections.pop("api", {})}
    failover = {"mode": "enforce", **sections.pop("failover", {})}
    config = load_config(write_config(two_regions, api=api, failover=failover, **sections))
    clock = ManualClock(START)
    async with (
        serving_service(config, schedule=False, clock=clock) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield Lab(client, service, clock)


async def serving(lab: Lab) -> None:
    await lab.rounds(HEALTHY)


async def counting(lab: Lab) -> None:
    await lab.deploy()
    await lab.rounds(FAILING)


async def out(lab: Lab) -> None:
    await lab.deploy()
    await lab.rounds(FAILING, FAILING, FAILING)


async def recovering(lab: Lab) -> None:
    await out(lab)
    await lab.rounds(HEALTHY, HEALTHY)


async def back_in(lab: Lab) -> None:
    await out(lab)
    await lab.rounds(*[HEALTHY] * 5)


async def inconclusive(lab: Lab) -> None:
    await lab.rounds(UNKNOWN, UNKNOWN, UNKNOWN)


async def operator(lab: Lab) -> None:
    await lab.rounds(HEALTHY)
    await lab.post(f"/api/v1/regions/{WEST}/disable", {"reason": "migration", "by": "alice"})


async def pinned(lab: Lab) -> None:
    await lab.post(f"/api/v1/regions/{WEST}/pin", {"reason": "investigating", "for": "1h"})
    await lab.deploy()
    await lab.rounds(FAILING, FAILING, FAILING)


async def pinned_out(lab: Lab) -> None:
    await out(lab)
    await lab.post(f"/api/v1/regions/{WEST}/pin", {"reason": "keep it out", "for": "1h"})
    await lab.rounds(*[HEALTHY] * 5)


async def silenced(lab: Lab) -> None:
    await lab.post("/api/v1/silences", {"region": WEST, "reason": "upgrade", "for": "1h"})
    await lab.deploy()
    await lab.rounds(FAILING, FAILING, FAILING)


async def silenced_out(lab: Lab) -> None:
    await out(lab)
    await lab.post("/api/v1/silences", {"region": WEST, "reason": "upgrade", "for": "1h"})


async def paused(lab: Lab) -> None:
    await lab.post("/api/v1/pause", {"reason": "Azure incident"})
    await lab.deploy()
    await lab.rounds(FAILING, FAILING, FAILING)


Step = Callable[[Lab], Awaitable[None]]


@pytest.mark.parametrize(
    ("step", "state", "status"),
    [
        (serving, "serving", 200),
        (counting, "counting", 200),
        (out, "out", 503),
        (recovering, "recovering", 503),
        (back_in, "serving", 200),
        (inconclusive, "inconclusive", 200),
        (operator, "operator", 503),
        (pinned, "pinned", 200),
        (pinned_out, "pinned", 503),
        (silenced, "silenced", 200),
        (silenced_out, "silenced", 200),
        (paused, "paused", 200),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
async def test_healthz_answers_503_only_while_the_policy_holds_the_region_out_in_enforce(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    step: Step,
    state: str,
    status: int,
) -> None:
    """In enforce mode /healthz answers 503 for out, recovering (until the enable is decided),
    a person's disable and a pin holding a region out; 200 for serving, counting,
    inconclusive, a pin holding a failing region in, a silence (even of a region held out)
    and the pause; the other region stays 200."""
    async with lab(two_regions, write_config) as running:
        await step(running)
        assert await running.healthz() == (status, state)
        assert (await running.healthz("centralus"))[0] == 200


@pytest.mark.parametrize("step", [out, recovering, operator], ids=lambda s: s.__name__)
async def test_healthz_stays_200_in_dry_run_whatever_the_policy_holds(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter, step: Step
) -> None:
    """In dry-run a region the policy would hold out (or a person's disable, recorded only)
    answers 200: nothing is taken out of rotation until enforce."""
    async with lab(two_regions, write_config, failover={"mode": "dry-run"}) as running:
        await step(running)
        code, state = await running.healthz()
        assert code == 200
        assert state in ("out", "recovering", "operator", "serving")


async def raw_healthz(url: str, head: str) -> int:
    """The status code of one `/healthz` request written raw on a fresh connection (the
    fast path that answers before the ASGI stack)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head.encode())
        await writer.drain()
        line = await reader.readline()
        return int(line.split()[1])
    finally:
        writer.close()
        await writer.wait_closed()


async def test_healthz_names_the_region_by_query_then_header_then_local_region(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """With westeurope out and api.local_region centralus: ?region= wins over the header, the
    header over api.local_region, and with neither the local region's answer is given; the
    raw fast path answers the same."""
    async with lab(two_regions, write_config, api={"local_region": "centralus"}) as running:
        await out(running)
        client = running.client
        assert (await client.get("/healthz", params={"region": WEST})).status_code == 503
        by_header = await client.get("/healthz", headers={"X-Regionwatch-Region": WEST})
        assert by_header.status_code == 503
        query_wins = await client.get(
            "/healthz", params={"region": "centralus"}, headers={"X-Regionwatch-Region": WEST}
        )
        assert query_wins.status_code == 200
        local = await client.get("/healthz")
        assert (local.status_code, local.json()["region"]) == (200, "centralus")
        url = str(client.base_url)
        host = f"Host: {urlsplit(url).netloc}\r\n"
        assert await raw_healthz(url, f"GET /healthz?region={WEST} HTTP/1.1\r\n{host}\r\n") == 503
        assert (
            await raw_healthz(
                url, f"GET /healthz HTTP/1.1\r\n{host}X-Regionwatch-Region: {WEST}\r\n\r\n"
            )
            == 503
        )
        assert await raw_healthz(url, f"GET /healthz HTTP/1.1\r\n{host}\r\n") == 200


async def test_healthz_without_a_selector_follows_the_local_region_or_answers_for_itself(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """With api.local_region westeurope held out, a bare /healthz is 503 (the instance's own
    region is out); without api.local_region it answers 200 for the service itself."""
    async with lab(two_regions, write_config, api={"local_region": WEST}) as running:
        await out(running)
        bare = await running.client.get("/healthz")
        assert (bare.status_code, bare.json()["region"]) == (503, WEST)
    async with lab(two_regions, write_config) as running:
        await out(running)
        bare = await running.client.get("/healthz")
        assert (bare.status_code, bare.json()) == (200, {"service": "ok"})
