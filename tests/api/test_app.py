"""The HTTP API on a real socket: probes for Kubernetes and Traffic Manager, and the regions API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends
from servers import eventually, serving, serving_service

from api.app import create_app
from api.deps import require_write
from lab.origin import Fault, RegionalOrigin
from monitor.config import load_config
from monitor.service import Service

ConfigWriter = Callable[..., Path]


@pytest.fixture
async def running(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    path = write_config(two_regions, api={"listen": "127.0.0.1:0", "local_region": "centralus"})
    async with (
        serving_service(load_config(path)) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield service, client


async def test_livez_answers_while_readyz_waits_for_the_first_round(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """/livez is up at once; /readyz turns 200 once every region has had a round."""
    path = write_config(two_regions)
    two_regions["westeurope"].inject(Fault.HANG)
    async with (
        serving_service(load_config(path)) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        assert (await client.get("/livez")).status_code == 200
        early = await client.get("/readyz")
        assert early.status_code == 503
        assert early.json()["ready"] is False
        assert any("first round not done" in p for p in early.json()["problems"])

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready)


async def test_enforce_mode_without_traffic_manager_is_ready_with_healthz_as_its_lever(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Enforce mode with no traffic_manager section has nothing to write (/healthz is its only
    lever): /readyz turns 200 after the first rounds, with no write-access problem."""
    path = write_config(two_regions, failover={"mode": "enforce"})
    async with (
        serving_service(load_config(path)) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready)
        assert (await client.get("/readyz")).json()["problems"] == []


async def test_regions_api_shows_each_verdict_with_its_checks(
    running: tuple[Service, httpx.AsyncClient], two_regions: dict[str, RegionalOrigin]
) -> None:
    """GET /api/v1/regions lists both regions with status and per-check outcomes."""
    service, client = running
    two_regions["westeurope"].inject(Fault.ORIGIN_DOWN)
    await eventually(lambda: service.snapshot.regions["westeurope"].rounds_done >= 2)
    await eventually(lambda: service.snapshot.regions["centralus"].rounds_done >= 1)
    body = (await client.get("/api/v1/regions")).json()
    by_name = {r["name"]: r for r in body["regions"]}
    assert by_name["centralus"]["status"] == "healthy"
    assert by_name["westeurope"]["status"] == "failing"
    checks = {c["check"]: c for c in by_name["westeurope"]["checks"]}
    assert checks["home"]["reason"] == "status 502, expected 200"
    assert checks["home-cached"]["outcome"] == "down"
    assert "stale copy" in checks["home-cached"]["reason"]
    detail = (await client.get("/api/v1/regions/westeurope")).json()
    assert detail["history"][0]["status"] == "failing"
    assert detail["recent_checks"]
    assert (await client.get("/api/v1/regions/nowhere")).status_code == 404


async def test_healthz_names_its_region_by_query_header_or_default(
    running: tuple[Service, httpx.AsyncClient], two_regions: dict[str, RegionalOrigin]
) -> None:
    """/healthz: ?region=, else X-Regionwatch-Region, else api.local_region; no-store, tiny body."""
    _, client = running
    by_query = await client.get("/healthz", params={"region": "westeurope"})
    assert by_query.status_code == 200
    assert by_query.json()["region"] == "westeurope"
    assert by_query.headers["cache-control"] == "no-store"
    by_header = await client.get("/healthz", headers={"X-Regionwatch-Region": "westeurope"})
    assert by_header.json()["region"] == "westeurope"
    any_case = await client.get("/healthz", headers={"X-Regionwatch-Region": "WestEurope"})
    assert any_case.json()["region"] == "westeurope"
    default = await client.get("/healthz")
    assert default.json()["region"] == "centralus"
    unknown = await client.get("/healthz", params={"region": "nowhere"})
    assert unknown.status_code == 200  # fails static: a typo never takes an endpoint out
    assert unknown.json()["status"] == "unknown region"
    head = await client.head("/healthz")
    assert (head.status_code, head.content) == (200, b"")
    assert len(by_query.content) < 100


async def test_healthz_stays_200_for_a_failing_region_in_dry_run(
    running: tuple[Service, httpx.AsyncClient], two_regions: dict[str, RegionalOrigin]
) -> None:
    """In dry-run (the default) /healthz fails static: 200 for a failing region, saying so."""
    service, client = running
    two_regions["westeurope"].inject(Fault.ERROR, status=500)
    await eventually(lambda: service.snapshot.regions["westeurope"].status.value == "failing")
    answer = await client.get("/healthz", params={"region": "westeurope"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["region"], body["serve"], body["status"]) == ("westeurope", True, "failing")


async def test_read_token_guards_the_api_but_not_the_probes(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """With api.read_token set, /api/v1 needs the bearer token; /livez and /healthz do not."""
    path = write_config(two_regions, api={"listen": "127.0.0.1:0", "read_token": "s3cret"})
    async with (
        serving_service(load_config(path)) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        missing = await client.get("/api/v1/regions")
        assert missing.status_code == 401
        assert missing.json() == {
            "status": 401,
            "error": "unauthorized",
            "detail": "a bearer token is required",
        }
        wrong = await client.get("/api/v1/regions", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        right = await client.get("/api/v1/regions", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
        assert (await client.get("/")).status_code == 401  # the dashboard is a read too
        assert (await client.get("/livez")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200


async def test_openapi_documents_the_routes(running: tuple[Service, httpx.AsyncClient]) -> None:
    """/docs serves, and the OpenAPI schema lists the probes and the regions API."""
    _, client = running
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/livez", "/readyz", "/healthz", "/api/v1/regions", "/api/v1/regions/{name}"} <= set(
        paths
    )


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_api_docs_load_everything_from_the_service_itself(
    running: tuple[Service, httpx.AsyncClient], page: str
) -> None:
    """/docs and /redoc name no other host (they work offline), and every script, stylesheet
    and icon they reference is served by the service."""
    _, client = running
    html = (await client.get(page)).text
    assert not re.findall(r"(?:https?:)?//[^\s\"'<>]+", html)
    assets = re.findall(r"(?:src|href)=\"([^\"]+)\"", html)
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:
        answer = await client.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 1000, asset
    if page == "/docs":
        script = next(a for a in assets if a.endswith(".js"))
        assert "SwaggerUIBundle" in (await client.get(script)).text


async def test_the_page_at_the_root_is_titled_the_dashboard(
    running: tuple[Service, httpx.AsyncClient],
) -> None:
    """The page at / carries the name the CLI, the README and the lab give it: the dashboard."""
    _, client = running
    page = (await client.get("/")).text
    title = re.search(r"<title>([^<]*)</title>", page)
    assert title and title.group(1) == "regionwatch dashboard · blog.example.com"


async def test_openapi_says_status_is_the_rounds_verdict_not_the_policys(
    running: tuple[Service, httpx.AsyncClient],
) -> None:
    """The regions API documents `status` as one round's verdict, apart from the failover
    policy's consecutive-rounds threshold."""
    _, client = running
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/api/v1/regions", "/api/v1/regions/{name}"):
        described = paths[path]["get"]["description"]
        assert "latest round alone" in described, path
        assert "`failover.failing_rounds` consecutive failing rounds" in described, path


@pytest.mark.parametrize(
    ("token", "sent", "status"),
    [
        ("w-token", None, 401),
        ("w-token", "Bearer", 401),
        ("w-token", "Basic w-token", 401),
        ("w-token", "Bearer nope", 403),
        ("w-token", "Bearer w-token-and-more", 403),
        ("w-token", "Bearer w-token", 200),
        (None, "Bearer anything", 403),
    ],
)
async def test_a_write_needs_api_token_loopback_included(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    token: str | None,
    sent: str | None,
    status: int,
) -> None:
    """A route that depends on `require_write` answers 401 without a bearer token, 403 with a
    wrong one (or when no api.token is configured: writes are off), and lets the right one
    through, even from 127.0.0.1; every refusal in the API's one error shape."""
    writes = APIRouter()

    @writes.post("/api/v1/test-write", dependencies=[Depends(require_write)])
    async def write() -> dict[str, str]:
        return {"written": "yes"}

    api = {"listen": "127.0.0.1:0", **({"token": token} if token else {})}
    config = load_config(write_config(two_regions, api=api))
    app = create_app(config, schedule=False, routers=[writes])
    headers = {"Authorization": sent} if sent else {}
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/api/v1/test-write", headers=headers)
    assert answer.status_code == status
    if status != 200:
        assert set(answer.json()) == {"status", "error", "detail"}
        assert answer.json()["status"] == status
        assert "w-token" not in answer.text
    if status == 401:
        assert answer.headers["www-authenticate"] == "Bearer"
