"""A person's commands over the real app on loopback: `POST /api/v1/regions/{name}/disable |
enable | adopt`, answered with the audit record, with the bearer token and the actor recorded.
Without a `traffic_manager` section `/healthz` is the lever; rounds are submitted on a manual
clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import serving_service
from verdicts import START, verdict

from api.routes import commands
from lab.origin import RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.evidence import RoundFinished
from monitor.policy import Stance
from monitor.results import RegionStatus
from monitor.service import Service

ConfigWriter = Callable[..., Path]
TOKEN = "w-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WHY = {"reason": "database migration gone wrong", "by": "alice"}


@asynccontextmanager
async def served(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    *,
    token: str | None = TOKEN,
    mode: str = "enforce",
) -> AsyncIterator[tuple[httpx.AsyncClient, Service, ManualClock]]:
    """The app with `api.token` and `failover.mode` set, no schedule: rounds come from the
    test, on a manual clock."""
    config = load_config(
        write_config(
            two_regions,
            api={"listen": "127.0.0.1:0", "token": token},
            failover={"mode": mode},
        )
    )
    clock = ManualClock(START)
    async with (
        serving_service(config, schedule=False, clock=clock) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield client, service, clock


async def healthy(service: Service, clock: ManualClock, *regions: str) -> None:
    """A healthy round of each region, a second apart."""
    for region in regions:
        clock.advance(1)
        await service.engine.apply(
            RoundFinished(verdict(region, RegionStatus.HEALTHY, clock.now()))
        )


@pytest.mark.parametrize("verb", ["disable", "enable", "adopt"])
@pytest.mark.parametrize(
    ("token", "sent", "status"),
    [(TOKEN, None, 401), (TOKEN, "Bearer nope", 403), (None, f"Bearer {TOKEN}", 403)],
    ids=["no-token", "wrong-token", "writes-off"],
)
async def test_a_command_needs_api_token_and_records_nothing_without_it(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    verb: str,
    token: str | None,
    sent: str | None,
    status: int,
) -> None:
    """Every command: 401 without a bearer token, 403 with a wrong one or when no api.token is
    configured; nothing decided, nothing in the audit trail, the token never echoed."""
    headers = {"Authorization": sent} if sent else {}
    async with served(two_regions, write_config, token=token) as (client, service, _):
        answer = await client.post(f"/api/v1/regions/westeurope/{verb}", json=WHY, headers=headers)
        await service.engine.settle()
        assert answer.status_code == status, answer.text
        assert TOKEN not in answer.text
        assert await service.store.actions() == []
        policy = service.snapshot.policy
        assert policy is not None and policy.region("westeurope").stance is Stance.SERVING


async def test_a_disable_is_answered_with_its_record_naming_who_asked(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """With the token: 200 and the audit record (done, `by` alice, `source` manual, not
    forced, the reason as given) at `Location`; /healthz turns 503 for the region and its
    policy says whose decision it is."""
    async with served(two_regions, write_config) as (client, service, clock):
        await healthy(service, clock, "westeurope", "centralus")
        answer = await client.post("/api/v1/regions/WestEurope/disable", json=WHY, headers=AUTH)
        assert answer.status_code == 200, answer.text
        record = answer.json()
        assert {k: record[k] for k in ("region", "action", "result", "by", "source")} == {
            "region": "westeurope",
            "action": "disable",
            "result": "done",
            "by": "alice",
            "source": "manual",
        }
        assert (record["forced"], record["guard"], record["reason"]) == (
            False,
            None,
            WHY["reason"],
        )
        assert answer.headers["location"] == f"/api/v1/actions/{record['id']}"
        assert (await client.get(answer.headers["location"])).json() == record
        assert (await client.get("/healthz", params={"region": "westeurope"})).status_code == 503
        regions = (await client.get("/api/v1/regions")).json()["regions"]
        (policy,) = [r["policy"] for r in regions if r["name"] == "westeurope"]
        assert policy["state"] == "operator"
        assert policy["operator"] == f"disabled by alice via regionwatch: {WHY['reason']}"


async def test_a_disable_refused_by_a_guard_rail_is_done_with_force_and_recorded_as_forced(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """centralus not judged yet (unknown), so nobody healthy would take westeurope's users: the disable
    is answered 200 `refused` by the receivers guard rail, nothing changes; with `force` it is
    done, recorded forced with the guard rail it went past."""
    async with served(two_regions, write_config) as (client, service, _):
        refused = await client.post("/api/v1/regions/westeurope/disable", json=WHY, headers=AUTH)
        assert refused.status_code == 200, refused.text
        assert (refused.json()["result"], refused.json()["guard"]) == ("refused", "receivers")
        assert refused.json()["detail"] == (
            "no other region is healthy by our probes to take westeurope's users: "
            "centralus (unknown)"
        )
        assert service.snapshot.health_for("westeurope").status_code == 200
        forced = await client.post(
            "/api/v1/regions/westeurope/disable", json={**WHY, "force": True}, headers=AUTH
        )
        assert forced.status_code == 200, forced.text
        record = forced.json()
        assert (record["result"], record["forced"], record["by"]) == ("done", True, "alice")
        assert [p["guard"] for p in record["evidence"]["forced_past"]] == ["receivers"]
        assert service.snapshot.health_for("westeurope").status_code == 503
        stored = await service.store.actions(region="westeurope")
        assert [(a.status, a.forced) for a in stored] == [("done", True), ("refused", False)]


async def test_a_manual_enable_puts_back_a_persons_disable_and_holds_the_region_in(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """alice's disable is only undone by a manual enable: bob's enable is 200 done with `by`
    bob, /healthz back to 200, and the region held in as bob's decision."""
    async with served(two_regions, write_config) as (client, service, clock):
        await healthy(service, clock, "westeurope", "centralus")
        await client.post("/api/v1/regions/westeurope/disable", json=WHY, headers=AUTH)
        answer = await client.post(
            "/api/v1/regions/westeurope/enable",
            json={"reason": "migration rolled back", "by": "bob"},
            headers=AUTH,
        )
        assert answer.status_code == 200, answer.text
        assert (answer.json()["result"], answer.json()["by"]) == ("done", "bob")
        assert service.snapshot.health_for("westeurope").status_code == 200
        policy = service.snapshot.policy
        assert policy is not None
        held = policy.region("westeurope")
        # Held in until it recovers, as a pin anyone can see and end (GET /api/v1/pins).
        assert held.stance is Stance.PINNED
        assert "enabled by bob via regionwatch: migration rolled back" in held.reason
        (pin,) = (await client.get("/api/v1/pins")).json()["controls"]
        assert pin["region"] == "westeurope" and "bob" in pin["reason"]


async def test_in_dry_run_a_command_is_recorded_only_unless_forced(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """In dry-run a person's disable is recorded `dry_run` (mode dry-run) and nothing turns;
    with `force` it is carried out (mode enforce) and recorded forced."""
    async with served(two_regions, write_config, mode="dry-run") as (client, service, clock):
        await healthy(service, clock, "westeurope", "centralus")
        dry = (
            await client.post("/api/v1/regions/westeurope/disable", json=WHY, headers=AUTH)
        ).json()
        assert (dry["result"], dry["mode"]) == ("dry_run", "dry-run")
        forced = (
            await client.post(
                "/api/v1/regions/westeurope/disable", json={**WHY, "force": True}, headers=AUTH
            )
        ).json()
        assert (forced["result"], forced["mode"], forced["forced"]) == ("done", "enforce", True)


@pytest.mark.parametrize(
    ("path", "body", "status", "said"),
    [
        ("/api/v1/regions/westeurop/disable", WHY, 404, "unknown region 'westeurop'"),
        ("/api/v1/regions/westeurope/disable", {"by": "alice"}, 422, "reason"),
        ("/api/v1/regions/westeurope/disable", {**WHY, "reason": "  "}, 422, "reason"),
        ("/api/v1/regions/westeurope/enable", {"reason": "x"}, 422, "by"),
        ("/api/v1/regions/westeurope/adopt", {**WHY, "force": True}, 422, "force"),
    ],
    ids=["unknown-region", "no-reason", "blank-reason", "no-by", "adopt-has-no-force"],
)
async def test_a_malformed_command_is_answered_and_decides_nothing(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    path: str,
    body: dict[str, Any],
    status: int,
    said: str,
) -> None:
    """404 for a region not configured, 422 without a reason (or only spaces), without `by`,
    or with a key the command does not take; nothing in the audit trail."""
    async with served(two_regions, write_config) as (client, service, _):
        answer = await client.post(path, json=body, headers=AUTH)
        assert answer.status_code == status, answer.text
        assert said in answer.text
        await service.engine.settle()
        assert await service.store.actions() == []


async def test_adopt_without_traffic_manager_is_refused_as_a_conflict(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Without a traffic_manager section there is no endpoint to adopt: 200 `refused` by
    `conflict`, saying so, recorded with who asked and `source` adopt."""
    async with served(two_regions, write_config) as (client, _, _):
        answer = await client.post("/api/v1/regions/westeurope/adopt", json=WHY, headers=AUTH)
        assert answer.status_code == 200, answer.text
        record = answer.json()
        assert (record["result"], record["guard"], record["source"], record["by"]) == (
            "refused",
            "conflict",
            "adopt",
            "alice",
        )
        assert record["detail"] == "no traffic_manager section: there is no endpoint to adopt"


async def test_a_command_not_finished_in_time_is_answered_202_with_its_id(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the outcome has not come within the wait (here none at all), the answer is 202
    with the decision's id and `Location`; the command goes on, and its record there ends
    done."""
    monkeypatch.setattr(commands, "COMMAND_WAIT", 0.0)
    async with served(two_regions, write_config) as (client, service, clock):
        await healthy(service, clock, "westeurope", "centralus")
        answer = await client.post("/api/v1/regions/westeurope/disable", json=WHY, headers=AUTH)
        assert answer.status_code == 202, answer.text
        accepted = answer.json()
        assert (accepted["action"], accepted["region"], accepted["result"]) == (
            "disable",
            "westeurope",
            "intended",
        )
        assert answer.headers["location"] == f"/api/v1/actions/{accepted['id']}"
        await service.engine.settle()
        assert service.actuator is not None
        await service.actuator.settle()
        record = (await client.get(answer.headers["location"])).json()
        assert (record["result"], record["by"]) == ("done", "alice")
