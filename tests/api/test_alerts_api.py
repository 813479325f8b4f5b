"""`/api/v1/alerts` over the real app on loopback, with a webhook channel pointing at a loopback
receiver: a refused alert becomes a dead letter the API lists and pages, a resend with the
write token delivers it, the metrics count it, and the channel's failing shows as
`monitor.blind` until it delivers again."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import structlog
from alertreceiver import Answer, Receiver, receiving
from servers import eventually, serving_service
from verdicts import START

from lab.origin import RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.service import Service

ConfigWriter = Callable[..., Path]
TOKEN = "alerts-write-0123456789"
READ_TOKEN = "alerts-read-9876543210"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
REFUSED = [Answer(400)] * 50  # the receiver refuses everything until the test clears it


@asynccontextmanager
async def served(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    receiver: Receiver | None,
    **api: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, Service]]:
    """The app with `api.token` (and `api`), no schedule, on a manual clock, with one webhook
    channel `ops` to `receiver` taking every event (none without a receiver)."""
    channel = {"name": "ops", "type": "webhook", "url": "", "min_severity": "info"}
    alerts = [{**channel, "url": receiver.url}] if receiver else []
    config = load_config(
        write_config(
            two_regions, api={"listen": "127.0.0.1:0", "token": TOKEN, **api}, alerts=alerts
        )
    )
    async with (
        serving_service(config, schedule=False, clock=ManualClock(START)) as (url, service),
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client, service


async def deploy(client: httpx.AsyncClient, version: str) -> None:
    """A deploy marker: one `deploy.recorded` event, so one alert for `ops`."""
    answer = await client.post(
        "/api/v1/deploys", json={"region": "westeurope", "version": version}, headers=AUTH
    )
    assert answer.status_code == 201, answer.text


async def dead_letters(client: httpx.AsyncClient, **query: Any) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/alerts/dead-letters", params=query, headers=AUTH)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["dead_letters"]
    return found


async def deploy_dead_letter(client: httpx.AsyncClient) -> dict[str, Any]:
    """The dead letter of the deploy's alert, once there."""

    async def there() -> bool:
        return any(d["event"]["type"] == "deploy.recorded" for d in await dead_letters(client))

    await eventually(there)
    return next(d for d in await dead_letters(client) if d["event"]["type"] == "deploy.recorded")


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the series `name{labels}` in an exposition; None when it is absent."""
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if not line.startswith("#") and series.split("{")[0] == name and found == labels:
            return float(value)
    return None


async def blind_events(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/events", params={"type": "monitor.blind"}, headers=AUTH)
    return [e for e in answer.json()["events"] if e["problem"] == "blind/alerts/ops"]


async def test_a_refused_alert_is_listed_as_a_dead_letter_and_a_resend_delivers_it(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A 400 from the receiver makes the alert a dead letter, listed with its event, attempts
    and error, and the channel `failing` with its target as scheme and host only; resent with
    the write token (logged with who) it is delivered once the receiver takes it, and the
    channel is `delivering` again."""
    async with receiving() as receiver:
        receiver.script.extend(REFUSED)
        async with served(two_regions, write_config, receiver) as (client, _):
            await deploy(client, "2.0.0")
            dead = await deploy_dead_letter(client)
            assert dead["channel"] == "ops"
            assert dead["attempts"] == 1
            assert "HTTP 400" in dead["error"]
            assert dead["event"]["region"] == "westeurope"
            [channel] = (await client.get("/api/v1/alerts", headers=AUTH)).json()["channels"]
            assert channel["name"] == "ops" and channel["type"] == "webhook"
            assert channel["target"] == receiver.url.split("/hooks/")[0]
            assert channel["health"] == "failing"
            assert channel["dead"] >= 1 and channel["dead_letters_since_start"] >= 1
            assert "HTTP 400" in channel["last_error"]

            receiver.script.clear()
            with structlog.testing.capture_logs() as logs:
                resent = await client.post(
                    f"/api/v1/alerts/dead-letters/{dead['key']}/resend",
                    params={"by": "alice"},
                    headers=AUTH,
                )
            assert resent.status_code == 202, resent.text
            assert resent.json() == {
                "key": dead["key"],
                "channel": "ops",
                "state": "pending",
                "by": "alice",
            }
            assert any(
                e["event"] == "alert_resent" and e["by"] == "alice" and e["key"] == dead["key"]
                for e in logs
            )
            await eventually(
                lambda: any(r.headers["idempotency-key"] == dead["key"] for r in receiver.accepted)
            )

            async def delivering() -> bool:
                answer = await client.get("/api/v1/alerts", headers=AUTH)
                return bool(answer.json()["channels"][0]["health"] == "delivering")

            await eventually(delivering)
            assert dead["key"] not in [d["key"] for d in await dead_letters(client)]


async def test_dead_letters_are_paged_newest_first_and_filtered_by_channel(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Pages of `limit` joined by `before` (each page's `next`) list every dead letter once,
    newest first; another channel's filter lists none."""
    async with receiving() as receiver:
        receiver.script.extend(REFUSED)
        async with served(two_regions, write_config, receiver) as (client, _):
            for version in ("2.0.0", "2.0.1", "2.0.2"):
                await deploy(client, version)

            async def three() -> bool:
                found = await dead_letters(client)
                return sum(d["event"]["type"] == "deploy.recorded" for d in found) == 3

            await eventually(three)
            everything = await dead_letters(client)
            paged: list[dict[str, Any]] = []
            cursor: int | None = None
            while True:
                query: dict[str, Any] = {"limit": 2, **({"before": cursor} if cursor else {})}
                answer = await client.get("/api/v1/alerts/dead-letters", params=query, headers=AUTH)
                page = answer.json()
                assert len(page["dead_letters"]) <= 2
                paged += page["dead_letters"]
                cursor = page["next"]
                if cursor is None:
                    break
            assert [d["key"] for d in paged] == [d["key"] for d in everything]
            versions = [
                d["event"]["evidence"]["version"]
                for d in everything
                if d["event"]["type"] == "deploy.recorded"
            ]
            assert versions == ["2.0.2", "2.0.1", "2.0.0"]
            assert await dead_letters(client, channel="ops") == everything
            assert await dead_letters(client, channel="pager") == []


async def test_a_resend_needs_the_write_token_and_an_existing_dead_letter(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Reads need `api.read_token` when it is set; a resend needs `api.token` (401 without a
    token, 403 with the read token) and answers 404 in the API's error shape for a key that
    names no dead letter."""
    async with receiving() as receiver:
        receiver.script.extend(REFUSED)
        async with served(two_regions, write_config, receiver, read_token=READ_TOKEN) as (
            client,
            _,
        ):
            await deploy(client, "2.0.0")
            dead = await deploy_dead_letter(client)
            route = f"/api/v1/alerts/dead-letters/{dead['key']}/resend"
            assert (await client.get("/api/v1/alerts")).status_code == 401
            assert (await client.get("/api/v1/alerts", headers=READ)).status_code == 200
            assert (await client.get("/api/v1/alerts/dead-letters", headers=READ)).json()[
                "dead_letters"
            ]
            assert (await client.post(route)).status_code == 401
            assert (await client.post(route, headers=READ)).status_code == 403
            unknown = await client.post(
                "/api/v1/alerts/dead-letters/0123456789abcdef/resend", headers=AUTH
            )
            assert unknown.status_code == 404
            assert unknown.json()["error"] and "0123456789abcdef" in unknown.json()["detail"]
            assert dead["key"] in [d["key"] for d in await dead_letters(client)]


async def test_without_channels_the_alerts_routes_answer_empty(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """With no `alerts` configured: no channels, no dead letters, and a resend finds none."""
    async with served(two_regions, write_config, None) as (client, service):
        assert service.alerting is None
        alerts = await client.get("/api/v1/alerts", headers=AUTH)
        assert alerts.status_code == 200 and alerts.json() == {"channels": []}
        assert await dead_letters(client) == []
        resend = await client.post("/api/v1/alerts/dead-letters/abc/resend", headers=AUTH)
        assert resend.status_code == 404


async def test_metrics_count_the_deliveries_and_the_dead_letters_of_each_channel(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """`regionwatch_alert_deliveries_total` counts a refused alert as `dead` and a resent one
    as `delivered`; `regionwatch_alert_dead_letters` and `regionwatch_alert_outbox_pending`
    follow the outbox."""
    async with receiving() as receiver:
        receiver.script.extend(REFUSED)
        async with served(two_regions, write_config, receiver) as (client, _):

            async def metric(name: str, **labels: str) -> float | None:
                text = (await client.get("/metrics")).text
                return sample(text, name, **labels)

            assert (
                await metric("regionwatch_alert_deliveries_total", channel="ops", result="dead")
                == 0
            )
            await deploy(client, "2.0.0")
            dead = await deploy_dead_letter(client)
            stored = len(await dead_letters(client))

            async def counted() -> bool:
                gauge = await metric("regionwatch_alert_dead_letters", channel="ops")
                total = await metric(
                    "regionwatch_alert_deliveries_total", channel="ops", result="dead"
                )
                return gauge == stored and total is not None and total >= stored

            await eventually(counted)
            assert await metric("regionwatch_alert_outbox_pending", channel="ops") == 0

            receiver.script.clear()
            await client.post(f"/api/v1/alerts/dead-letters/{dead['key']}/resend", headers=AUTH)

            async def delivered() -> bool:
                total = await metric(
                    "regionwatch_alert_deliveries_total", channel="ops", result="delivered"
                )
                gauge = await metric("regionwatch_alert_dead_letters", channel="ops")
                return total is not None and total >= 1 and gauge == stored - 1

            await eventually(delivered)


async def test_a_channel_dead_lettering_raises_monitor_blind_until_it_delivers_again(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A dead letter opens `monitor.blind` on `blind/alerts/ops` (its alert sent to the
    failing channel too, and refused); a delivery after the resend closes it."""
    async with receiving() as receiver:
        receiver.script.extend(REFUSED)
        async with served(two_regions, write_config, receiver) as (client, _):
            assert await blind_events(client) == []
            await deploy(client, "2.0.0")
            dead = await deploy_dead_letter(client)

            async def opened() -> bool:
                return len(await blind_events(client)) == 1

            await eventually(opened)
            [blind] = await blind_events(client)
            assert blind["resolved"] is False and blind["severity"] == "warning"
            assert blind["evidence"]["channel"] == "ops"
            assert blind["evidence"]["dead_letters"] >= 1
            assert "ops" in blind["summary"] and "HTTP 400" in blind["summary"]
            assert any(
                d["event"]["problem"] == "blind/alerts/ops" for d in await dead_letters(client)
            )

            receiver.script.clear()
            await client.post(f"/api/v1/alerts/dead-letters/{dead['key']}/resend", headers=AUTH)

            async def closed() -> bool:
                return any(e["resolved"] for e in await blind_events(client))

            await eventually(closed)


async def test_the_dashboard_shows_each_channel_and_a_dead_letter_with_its_resend_command(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """The dashboard's Alerts panel shows the channel failing and the dead letter (type,
    region, error) with the curl line that resends it, and no form that would write."""
    async with receiving() as receiver:
        receiver.script.extend(REFUSED)
        async with served(two_regions, write_config, receiver) as (client, _):
            await deploy(client, "2.0.0")
            dead = await deploy_dead_letter(client)
            page = (await client.get("/dashboard/fragment", headers=AUTH)).text
    panel = page[page.index('data-section="alerts"') :]
    assert 'data-channel="ops" data-health="failing"' in panel
    letter = panel[panel.index(f'data-dead-letter="{dead["key"]}"') :].split("</li>")[0]
    assert "deploy.recorded" in letter and "westeurope" in letter and "HTTP 400" in letter
    assert f"/api/v1/alerts/dead-letters/{dead['key']}/resend" in letter
    assert "$REGIONWATCH_TOKEN" in letter and TOKEN not in page
    assert "<form" not in panel.split("</section>")[0]
