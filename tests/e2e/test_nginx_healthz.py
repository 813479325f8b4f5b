"""k8s/nginx/healthz.conf in Debian's real Nginx: the model site with the snippet included as
it is (only its upstream address replaced), in front of a loopback stand-in for regionwatch
that the tests turn from 503 to 200 and back, stop, or hang.

The site sets a cache for the whole server (and serves stale copies on 503), as many sites
do, so the snippet's own `proxy_cache off` is what keeps /healthz out of it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from lab.ghost import GhostOrigin
from lab.httpserver import HttpRequest, HttpResponse, HttpServer, Misbehaviour
from lab.nginx_server import NginxServer, model_site

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "k8s" / "nginx" / "healthz.conf"
# The address the snippet ships with, which the tests replace with the stand-in's.
SHIPPED_UPSTREAM = "regionwatch.regionwatch.svc.cluster.local:8000"
HOSTNAME = "blog.example.com"
ADDRESS = "127.0.0.1"
UNREACHABLE = {"service": "unreachable"}
# A site caching everything it proxies, stale copies included, whatever the upstream says.
SITE_CACHE = """
        proxy_cache STATIC;
        proxy_cache_valid 200 503 1h;
        proxy_cache_use_stale error timeout invalid_header updating
                              http_500 http_502 http_503 http_504;
        proxy_ignore_headers Expires Cache-Control;
"""


@dataclass
class Monitor:
    """A stand-in for regionwatch's /healthz: answers `status` with regionwatch's headers,
    or hangs; records the requests it was sent."""

    status: int = 503
    hang: bool = False
    seen: list[HttpRequest] = field(default_factory=list)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        self.seen.append(request)
        if self.hang:
            return HttpResponse(200, misbehave=Misbehaviour.HANG)
        body = {"region": "westeurope", "serve": self.status == 200}
        return HttpResponse.of_json(self.status, body, [("Cache-Control", "no-store")])


@dataclass
class Site:
    monitor: Monitor
    server: HttpServer
    nginx: NginxServer
    client: httpx.AsyncClient

    async def healthz(self) -> httpx.Response:
        return await self.client.get(
            f"https://{self.nginx.address}:{self.nginx.port}/healthz",
            headers={"Host": HOSTNAME, "X-Regionwatch-Region": "westeurope"},
            extensions={"sni_hostname": HOSTNAME},
        )


def snippet_for(upstream: str) -> str:
    """The shipped snippet with only its upstream address replaced."""
    text = SNIPPET.read_text(encoding="utf-8")
    assert text.count(SHIPPED_UPSTREAM) == 1, "the snippet's upstream address moved"
    return text.replace(SHIPPED_UPSTREAM, upstream)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    monitor = Monitor()
    server = HttpServer(monitor.handle, host=ADDRESS)
    ghost = GhostOrigin(ADDRESS)
    await server.start()
    await ghost.start()
    extra = SITE_CACHE + snippet_for(f"{ADDRESS}:{server.port}")
    nginx_site = model_site(
        f"{ADDRESS}:{ghost.port}", hostname=HOSTNAME, address=ADDRESS, server_extra=extra
    )
    try:
        async with NginxServer(nginx_site, prefix=tmp_path / "nginx") as nginx:
            context = ssl.create_default_context(cafile=str(nginx.ca_file))
            async with httpx.AsyncClient(verify=context, timeout=10) as client:
                yield Site(monitor, server, nginx, client)
    finally:
        await ghost.stop()
        await server.stop()


def assert_uncached(response: httpx.Response) -> None:
    assert response.headers.get("X-Cache-Status") not in ("HIT", "STALE", "UPDATING")
    assert response.headers.get_list("Cache-Control") == ["no-store"]


async def test_a_503_passes_through_and_is_never_cached_or_replaced(site: Site) -> None:
    """regionwatch's 503 reaches the prober as it is; after it turns 200 the next probe gets
    200, and after it turns 503 again the next gets 503: each answered by the upstream, none
    from the site's cache, with one `Cache-Control: no-store`."""
    answers = []
    for status in (503, 200, 503):
        site.monitor.status = status
        response = await site.healthz()
        assert_uncached(response)
        answers.append((response.status_code, response.json()["serve"]))
    assert answers == [(503, False), (200, True), (503, False)]
    assert len(site.monitor.seen) == 3


async def test_the_region_header_reaches_regionwatch(site: Site) -> None:
    """Traffic Manager's per-endpoint `X-Regionwatch-Region` arrives at regionwatch."""
    site.monitor.status = 200
    assert (await site.healthz()).status_code == 200
    assert site.monitor.seen[-1].headers["x-regionwatch-region"] == "westeurope"
    assert site.monitor.seen[-1].path == "/healthz"


async def test_regionwatch_down_answers_200_saying_it_is_unreachable(site: Site) -> None:
    """With regionwatch refusing connections (after a 503, which the site would otherwise
    serve stale), Nginx answers 200 with the documented body, not a cached 503 or a 502."""
    assert (await site.healthz()).status_code == 503
    site.server.pause()
    response = await site.healthz()
    assert (response.status_code, response.json()) == (200, UNREACHABLE)
    assert response.headers["Content-Type"].startswith("application/json")
    assert_uncached(response)


async def test_regionwatch_hanging_past_the_read_timeout_answers_200(site: Site) -> None:
    """regionwatch accepting but never answering: after the snippet's 2 s read timeout Nginx
    answers 200 with the documented body, well within Traffic Manager's probe timeout."""
    site.monitor.hang = True
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await site.healthz()
    took = loop.time() - started
    assert (response.status_code, response.json()) == (200, UNREACHABLE)
    assert_uncached(response)
    assert 1.5 < took < 9, took
