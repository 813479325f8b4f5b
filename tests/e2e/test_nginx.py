"""The probe against Debian's real Nginx, configured like the model deployment, in front of a
Ghost stand-in that the test stops or turns into 500s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servers import eventually

from lab.faults import Fault
from lab.ghost import GhostOrigin
from lab.nginx_server import NginxServer, model_site
from monitor.clock import SystemClock
from monitor.config import HttpsRequest
from monitor.probes.https import HttpsProbe, HttpsTarget, build_ssl_context
from monitor.results import CheckResult, Outcome

HOSTNAME = "blog.example.com"
ADDRESS = "127.0.0.1"
STALE_REASON = (
    "X-Cache-Status STALE: Nginx is serving a stale copy, the origin behind it is failing"
)


@dataclass
class Region:
    ghost: GhostOrigin
    nginx: NginxServer

    async def probe(self, **request: Any) -> CheckResult:
        request.setdefault("name", "home")
        nginx = self.nginx
        target = HttpsTarget("westeurope", HOSTNAME, nginx.address, nginx.port, nginx.http_port)
        return await HttpsProbe(
            target,
            HttpsRequest.model_validate(request),
            ssl_context=build_ssl_context(str(nginx.ca_file)),
            timeout=5,
            clock=SystemClock(),
        ).probe()


@pytest.fixture
async def region(tmp_path: Path) -> AsyncIterator[Region]:
    ghost = GhostOrigin(ADDRESS)
    await ghost.start()
    site = model_site(
        f"{ADDRESS}:{ghost.port}", hostname=HOSTNAME, address=ADDRESS, cache_valid="1s"
    )
    try:
        async with NginxServer(site, prefix=tmp_path / "nginx") as nginx:
            yield Region(ghost, nginx)
    finally:
        await ghost.stop()


async def test_healthy_nginx_passes_every_model_check(region: Region) -> None:
    """Origin path, cached page, HSTS, /ghost 404 and the HTTP→HTTPS redirect all pass."""
    home = await region.probe(bypass_cache="header", expect={"body_contains": "<title>Lab Blog"})
    assert home.outcome is Outcome.UP, home.reason
    assert home.facts["cache_status"] == "BYPASS"
    assert home.facts["release"] == "1.0.0"
    first = await region.probe(expect={"headers_present": ["Strict-Transport-Security", "X-Host"]})
    second = await region.probe()
    assert (first.outcome, second.outcome) == (Outcome.UP, Outcome.UP), first.reason
    assert (first.facts["cache_status"], second.facts["cache_status"]) == ("MISS", "HIT")
    admin = await region.probe(name="admin", path="/ghost", expect={"status": [404]})
    assert admin.outcome is Outcome.UP, admin.reason
    redirect = await region.probe(
        name="redirect", scheme="http", expect={"status": [301], "redirect_to_https": True}
    )
    assert redirect.outcome is Outcome.UP, redirect.reason


async def test_stale_cache_is_down_while_nginx_still_answers_200(region: Region) -> None:
    """With Ghost stopped, Nginx keeps answering 200 from cache; once the copy expires it is
    served STALE and the probe reports the region DOWN with the stale-cache reason."""
    assert (await region.probe()).outcome is Outcome.UP  # fills the cache
    region.ghost.inject(Fault.REFUSE)

    async def stale() -> bool:
        return (await region.probe()).facts.get("cache_status") == "STALE"

    await eventually(stale, timeout=15, interval=0.2)
    result = await region.probe()
    assert result.facts["status"] == 200
    assert result.outcome is Outcome.DOWN
    assert result.reason == STALE_REASON


async def test_bypass_request_sees_the_origin_failure_directly(region: Region) -> None:
    """A bypass request neither reads nor fills the cache: it sees Ghost's failure at once."""
    assert (await region.probe()).facts["cache_status"] == "MISS"
    region.ghost.inject(Fault.REFUSE)
    cached = await region.probe()
    assert cached.outcome is Outcome.UP  # still a fresh HIT: a plain probe tests the cache
    bypass = await region.probe(bypass_cache="header")
    assert bypass.outcome is Outcome.DOWN
    assert bypass.reason == "status 502, expected 200"
    region.ghost.heal()
    region.ghost.inject(Fault.ERROR)
    await region.ghost.settled()
    erroring = await region.probe(bypass_cache="header")
    assert erroring.reason == "status 500, expected 200"
    assert erroring.facts["cache_status"] == "BYPASS"


async def test_bypass_requests_never_fill_the_cache(region: Region) -> None:
    """After only bypass requests, the first plain request is still a MISS."""
    for _ in range(3):
        assert (await region.probe(bypass_cache="header")).outcome is Outcome.UP
    assert (await region.probe()).facts["cache_status"] == "MISS"
    assert region.ghost.requests == 4
