"""The failover's API over the real app on loopback: deploy markers (`POST` and `GET
/api/v1/deploys`), the audit trail (`GET /api/v1/actions`) and each region's `policy` in
`/api/v1/regions`, with decisions driven by rounds submitted to the engine on a manual clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import eventually, serving_service
from verdicts import START, verdict

from lab.origin import RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.deploys import Deploy, DeploySource
from monitor.evidence import RoundFinished
from monitor.policy import Outcome_, Stance
from monitor.results import RegionStatus
from monitor.service import Service

ConfigWriter = Callable[..., Path]
TOKEN = "w-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "contract" / "check.schema.json"


@asynccontextmanager
async def served(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter, **api: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Service, ManualClock]]:
    """The app with `api.token` set (unless `api` says otherwise), no schedule: rounds are
    submitted by the test, on a manual clock."""
    settings = {"listen": "127.0.0.1:0", "token": TOKEN, **api}
    config = load_config(write_config(two_regions, api=settings))
    clock = ManualClock(START)
    async with (
        serving_service(config, schedule=False, clock=clock) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield client, service, clock


async def rounds(service: Service, clock: ManualClock, *statuses: tuple[str, RegionStatus]) -> None:
    """One round per (region, status), a second apart (the interval is 1 s), then whatever
    the policy decided carried out and reported back."""
    for region, status in statuses:
        clock.advance(1)
        await service.engine.apply(RoundFinished(verdict(region, status, clock.now())))
    for _ in range(3):  # an outcome is evidence, which may decide again
        await service.engine.settle()
        assert service.actuator is not None
        await service.actuator.settle()
    await service.engine.settle()


async def regions_policy(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    answer = await client.get("/api/v1/regions")
    assert answer.status_code == 200, answer.text
    return {r["name"]: r for r in answer.json()["regions"]}


FAILING = ("westeurope", RegionStatus.FAILING)
HEALTHY = ("westeurope", RegionStatus.HEALTHY)
CENTRAL_HEALTHY = ("centralus", RegionStatus.HEALTHY)


@pytest.mark.parametrize(
    ("token", "sent", "status"),
    [
        (TOKEN, None, 401),
        (TOKEN, "Bearer nope", 403),
        (None, f"Bearer {TOKEN}", 403),
        (TOKEN, f"Bearer {TOKEN}", 201),
    ],
)
async def test_a_deploy_marker_needs_api_token(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    token: str | None,
    sent: str | None,
    status: int,
) -> None:
    """POST /api/v1/deploys: 401 without a bearer token, 403 with a wrong one or when no
    api.token is configured, 201 with it; a refused marker is not stored."""
    headers = {"Authorization": sent} if sent else {}
    async with served(two_regions, write_config, token=token) as (client, service, _):
        answer = await client.post(
            "/api/v1/deploys", json={"region": "westeurope", "version": "2.0.0"}, headers=headers
        )
        assert answer.status_code == status, answer.text
        stored = await service.store.deploys()
    if status == 201:
        assert [d.version for d in stored] == ["2.0.0"]
    else:
        assert set(answer.json()) == {"status", "error", "detail"}
        assert TOKEN not in answer.text
        assert stored == []


async def test_a_posted_marker_is_stored_before_the_answer_and_opens_the_window(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A marker is stored when the 201 comes (with `Location` naming it, the service's time,
    `by` defaulting to api), the region's `policy.window` names it at once (the region named
    in any case), and it is a `deploy.recorded` event."""
    async with served(two_regions, write_config) as (client, service, clock):
        clock.advance(30)
        answer = await client.post(
            "/api/v1/deploys",
            json={"region": "WestEurope", "version": "2026.11.2", "note": "new theme"},
            headers=AUTH,
        )
        assert answer.status_code == 201, answer.text
        marker = answer.json()
        stored = await service.store.deploys()  # no settling: stored before the answer
        assert [d.id for d in stored] == [marker["id"]]
        assert marker == {
            "id": marker["id"],
            "region": "westeurope",
            "version": "2026.11.2",
            "at": "2026-11-02T14:00:30Z",
            "source": "marker",
            "note": "new theme",
            "by": "api",
        }
        assert answer.headers["location"] == f"/api/v1/deploys/{marker['id']}"
        assert (await client.get(answer.headers["location"])).json() == marker

        window = (await regions_policy(client))["westeurope"]["policy"]["window"]
        assert window == {
            "deploy": marker["id"],
            "version": "2026.11.2",
            "source": "marker",
            "start": "2026-11-02T13:58:30Z",
            "end": "2026-11-02T14:30:30Z",
        }
        assert (await regions_policy(client))["centralus"]["policy"]["window"] is None

        async def recorded() -> list[dict[str, Any]]:
            page = await client.get("/api/v1/events", params={"type": "deploy.recorded"})
            events: list[dict[str, Any]] = page.json()["events"]
            return events

        await eventually(recorded)
        (event,) = await recorded()
        assert event["region"] == "westeurope"
        assert event["evidence"]["id"] == marker["id"]
        assert "2026.11.2" in event["summary"]


async def test_deploys_are_listed_newest_first_marked_and_detected(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """GET /api/v1/deploys lists markers and detected releases newest first, filtered by
    region and since; an unknown id is a 404 in the error shape."""
    async with served(two_regions, write_config) as (client, service, clock):
        detected = Deploy(
            "d-detected",
            "centralus",
            "1.9.0",
            clock.now(),
            DeploySource.DETECTED,
            note="X-Release changed from 1.8.0 to 1.9.0",
        )
        await service.store.record_deploy(detected)
        ids = []
        for region, version in (("westeurope", "2.0.0"), ("centralus", "2.0.0")):
            clock.advance(60)
            answer = await client.post(
                "/api/v1/deploys",
                json={"region": region, "version": version, "by": "ci"},
                headers=AUTH,
            )
            ids.append(answer.json()["id"])
        listed = (await client.get("/api/v1/deploys")).json()["deploys"]
        assert [(d["id"], d["source"]) for d in listed] == [
            (ids[1], "marker"),
            (ids[0], "marker"),
            ("d-detected", "detected"),
        ]
        assert len(set(ids)) == 2
        central = (await client.get("/api/v1/deploys", params={"region": "centralus"})).json()
        assert [d["id"] for d in central["deploys"]] == [ids[1], "d-detected"]
        since = (START + timedelta(seconds=90)).isoformat()
        recent = (await client.get("/api/v1/deploys", params={"since": since})).json()
        assert [d["id"] for d in recent["deploys"]] == [ids[1]]
        limited = (await client.get("/api/v1/deploys", params={"limit": 1})).json()
        assert [d["id"] for d in limited["deploys"]] == [ids[1]]
        missing = await client.get("/api/v1/deploys/nothing-here")
        assert missing.status_code == 404
        assert missing.json() == {
            "status": 404,
            "error": "not_found",
            "detail": "no deploy 'nothing-here'",
        }


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"region": "westeurop", "version": "2.0.0"}, 404, "unknown region 'westeurop'"),
        ({"region": "westeurope", "version": ""}, 422, "body.version"),
        ({"region": "westeurope", "version": "   "}, 422, "body.version"),
        ({"region": "westeurope", "version": "v" * 101}, 422, "body.version"),
        ({"region": "westeurope", "version": "2.0\n0"}, 422, "body.version"),
        ({"region": "westeurope"}, 422, "body.version"),
        ({"region": "westeurope", "version": "2", "note": "n" * 501}, 422, "body.note"),
        ({"region": "westeurope", "version": "2", "by": "b" * 101}, 422, "body.by"),
        ({"region": "westeurope", "version": "2", "verison": "2"}, 422, "body.verison"),
    ],
)
async def test_a_marker_for_an_unknown_region_is_404_and_a_malformed_one_422(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    body: dict[str, str],
    status: int,
    named: str,
) -> None:
    """A region that is not configured is a 404 naming the configured ones; a version empty,
    blank, over 100 characters or with a line break, a note over 500, a `by` over 100 or an
    unknown key is a 422 naming the field; both in the API's error shape, nothing stored."""
    async with served(two_regions, write_config) as (client, service, _):
        answer = await client.post("/api/v1/deploys", json=body, headers=AUTH)
        stored = await service.store.deploys()
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert set(error) == {"status", "error", "detail"}
    assert error["status"] == status
    assert named in error["detail"]
    if status == 404:
        configured = error["detail"].split("configured are ", 1)[1]
        assert set(configured.split(", ")) == {"westeurope", "centralus"}
    assert stored == []


async def test_regions_carry_the_policy_state_and_what_comes_next(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Each region in /api/v1/regions (and /regions/{name}) has a `policy`: serving with
    nothing next at first; after one failing round in a deploy window, counting with its tally
    and the rounds left, while `status` stays the round's verdict."""
    async with served(two_regions, write_config) as (client, service, clock):
        first = await regions_policy(client)
        assert first["westeurope"]["policy"] == {
            "state": "serving",
            "reason": "",
            "next": "",
            "failing": None,
            "healthy": None,
            "out_since": None,
            "operator": None,
            "window": None,
            "pending": None,
        }
        await rounds(service, clock, CENTRAL_HEALTHY)
        await client.post(
            "/api/v1/deploys", json={"region": "westeurope", "version": "2.0.0"}, headers=AUTH
        )
        await rounds(service, clock, FAILING)
        west = (await regions_policy(client))["westeurope"]
        assert west["status"] == "failing"
        policy = west["policy"]
        assert policy["state"] == "counting"
        assert policy["next"] == "disable after 2 more failing rounds"
        assert policy["reason"].startswith("westeurope failed 1 round in a row, within")
        assert "deploy 2.0.0" in policy["reason"]
        assert policy["failing"] == {
            "rounds": 1,
            "since": "2026-11-02T14:00:02Z",
            "last_at": "2026-11-02T14:00:02Z",
        }
        central = (await regions_policy(client))["centralus"]["policy"]
        assert (central["state"], central["healthy"]["rounds"]) == ("serving", 1)
        detail = (await client.get("/api/v1/regions/westeurope")).json()
        assert detail["policy"] == policy


async def test_actions_list_the_decisions_newest_first_filtered_and_paged(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A bad deploy in dry-run: the disable decided at the third failing round is in
    /api/v1/actions with every field of its record, the region's policy is then `out`, and
    after five healthy rounds the enable follows; newest first, filtered by region, status
    and since, paged by `before`, a wrong status a 422."""
    async with served(two_regions, write_config) as (client, service, clock):
        await rounds(service, clock, CENTRAL_HEALTHY)
        await client.post(
            "/api/v1/deploys", json={"region": "westeurope", "version": "2.0.0"}, headers=AUTH
        )
        await rounds(service, clock, FAILING, FAILING, FAILING)
        page = (await client.get("/api/v1/actions")).json()
        assert page["next"] is None
        (disable,) = page["actions"]
        stored = (await service.store.actions())[0]
        assert disable == {
            "id": stored.id,
            "region": "westeurope",
            "endpoint": "westeurope",
            "action": "disable",
            "decided_at": "2026-11-02T14:00:04Z",
            "reason": stored.reason,
            "evidence": stored.evidence,
            "mode": "dry-run",
            "urgent": False,
            "result": "dry_run",
            "guard": None,
            "detail": "no traffic_manager section: /healthz answers 503 for westeurope",
            "uncovered": [],
            "attempts": 0,
            "finished_at": "2026-11-02T14:00:04Z",
            "instance": service.snapshot.instance,
            "by": "regionwatch",
            "forced": False,
            "source": "policy",
        }
        assert "failed 3 rounds in a row" in disable["reason"]
        assert "deploy 2.0.0" in disable["reason"]
        assert disable["evidence"]["deploy"]["version"] == "2.0.0"
        out = (await regions_policy(client))["westeurope"]["policy"]
        assert out["state"] == "out"
        assert out["out_since"] == "2026-11-02T14:00:04Z"
        assert out["next"] == "enable after 5 more healthy rounds"

        await rounds(service, clock, *[HEALTHY] * 5)
        everything = (await client.get("/api/v1/actions")).json()["actions"]
        assert [(a["action"], a["result"]) for a in everything] == [
            ("enable", "dry_run"),
            ("disable", "dry_run"),
        ]

        pages, before = [], None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"before": before} if before else {})}
            answer = (await client.get("/api/v1/actions", params=params)).json()
            pages.append([a["id"] for a in answer["actions"]])
            before = answer["next"]
            if before is None:
                break
        assert pages == [[a["id"]] for a in everything]

        async def ids(**params: Any) -> list[str]:
            answer = await client.get("/api/v1/actions", params=params)
            assert answer.status_code == 200, answer.text
            return [a["id"] for a in answer.json()["actions"]]

        assert await ids(region="centralus") == []
        assert await ids(region="westeurope", status="dry_run") == [a["id"] for a in everything]
        assert await ids(status="done") == []
        assert await ids(since="2026-11-02T14:00:05Z") == [everything[0]["id"]]
        wrong = await client.get("/api/v1/actions", params={"status": "exploded"})
        assert wrong.status_code == 422
        assert wrong.json()["error"] == "invalid_request"
        assert "status" in wrong.json()["detail"]


async def test_api_token_also_reads_when_read_token_is_set(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """With both api.read_token and api.token set, a marker posted with api.token passes the
    read guard of /api/v1 and is stored, api.token reads too, and read_token cannot write."""
    async with served(two_regions, write_config, read_token="r-token") as (client, _, _):
        body = {"region": "westeurope", "version": "2.0.0"}
        posted = await client.post("/api/v1/deploys", json=body, headers=AUTH)
        assert posted.status_code == 201, posted.text
        reader = {"Authorization": "Bearer r-token"}
        assert (await client.get("/api/v1/deploys", headers=AUTH)).status_code == 200
        assert (await client.get("/api/v1/deploys", headers=reader)).status_code == 200
        assert (await client.get("/api/v1/deploys")).status_code == 401
        refused = await client.post("/api/v1/deploys", json=body, headers=reader)
        assert refused.status_code == 403


async def test_openapi_documents_the_failover_routes_with_examples_and_errors(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Every new route has a summary, a description and an example; its errors are
    documented with the API's error shape (ErrorOut), never FastAPI's default 422 shape;
    the action results are the policy's outcomes and `intended`."""
    async with served(two_regions, write_config) as (client, _, _):
        schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    routes = {
        ("/api/v1/deploys", "post"): {"401", "403", "404", "422", "503"},
        ("/api/v1/deploys", "get"): {"422", "503"},
        ("/api/v1/deploys/{id}", "get"): {"404", "422", "503"},
        ("/api/v1/actions", "get"): {"422", "503"},
    }
    for (path, method), errors in routes.items():
        operation = paths[path][method]
        assert operation["summary"] and operation["description"], (path, method)
        success = "201" if method == "post" else "200"
        assert "example" in operation["responses"][success]["content"]["application/json"]
        for code in errors:
            ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorOut", (path, method, code)
    post = paths["/api/v1/deploys"]["post"]
    assert "Location" in post["responses"]["201"]["headers"]
    assert schema["components"]["schemas"]["DeployIn"]["examples"]
    results = set(schema["components"]["schemas"]["ActionResult"]["enum"])
    assert results == {"intended"} | {o.value for o in Outcome_}
    policy = schema["components"]["schemas"]["PolicyOut"]
    assert policy["examples"] and set(policy["properties"]["state"]["$ref"].split("/")[-1:]) == {
        "Stance"
    }


def test_the_check_contract_names_every_policy_state() -> None:
    """The policy states docs/contract/check.schema.json allows are the policy's stances."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    region = schema["properties"]["regions"]["items"]["properties"]
    assert set(region["policy"]["properties"]["state"]["enum"]) == {s.value for s in Stance}
    assert "policy" not in schema["properties"]["regions"]["items"]["required"]
