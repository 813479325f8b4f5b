"""The lab's alert receivers as a sender meets them: served under the fault panel on loopback,
sent to by the real notifiers (or, for a kind, by an HTTP client with that kind's body)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from servers import serving

from lab.alertreceivers import AlertReceiver, AlertReceivers
from lab.control import control_router
from monitor.alerts import pagerduty, slack, teams
from monitor.alerts.notifier import Alert, NotifyError
from monitor.alerts.pagerduty import PagerDutyNotifier
from monitor.alerts.webhook import WebhookNotifier
from monitor.clock import SystemClock

SECRET = "lab-signing-key"
ROUTING_KEY = "0123456789abcdef0123456789abcdef"
EVENT = {
    "id": "a1b2c3d4e5f60718293a",
    "type": "region.failing",
    "severity": "critical",
    "region": "westeurope",
    "at": "2026-01-01T10:00:30+00:00",
    "since": "2026-01-01T10:00:00+00:00",
    "summary": "westeurope is failing: home: status 500",
    "evidence": {},
    "problem": "region/westeurope",
    "resolved": False,
    "instance": "lab",
}


@pytest.fixture
async def lab() -> AsyncIterator[tuple[str, AlertReceivers]]:
    """One receiver of each kind under /lab/alerts, served on loopback."""
    receivers = AlertReceivers(
        [
            AlertReceiver("ops", "webhook", secret=SECRET),
            AlertReceiver("chat", "slack"),
            AlertReceiver("team", "teams"),
            AlertReceiver("pager", "pagerduty"),
        ]
    )
    app = FastAPI()
    app.include_router(control_router({}, alerts=receivers))
    async with serving(app) as base:
        yield base, receivers


def webhook(base: str, secret: str) -> WebhookNotifier:
    return WebhookNotifier("ops", f"{base}/lab/alerts/ops/hook", clock=SystemClock(), secret=secret)


async def test_a_signed_webhook_is_recorded_with_its_event_key_and_verified_signature(
    lab: tuple[str, AlertReceivers],
) -> None:
    """The real webhook notifier, signing with the lab's key: accepted, and `GET /lab/alerts`
    lists it with the event's type, region, summary and time, the idempotency key, and
    `verified: true`; the same key again is marked a duplicate."""
    base, _ = lab
    notifier = webhook(base, SECRET)
    try:
        await notifier.send(Alert(key="k-1", channel="ops", event=EVENT))
        await notifier.send(Alert(key="k-1", channel="ops", event=EVENT))
    finally:
        await notifier.aclose()
    async with httpx.AsyncClient(base_url=base) as client:
        got = (await client.get("/lab/alerts")).json()["channels"]["ops"]
    first, again = got["received"]
    assert {k: first[k] for k in ("type", "region", "summary", "key", "at", "verified")} == {
        "type": "region.failing",
        "region": "westeurope",
        "summary": "westeurope is failing: home: status 500",
        "key": "k-1",
        "at": "2026-01-01T10:00:30+00:00",
        "verified": True,
    }
    assert datetime.fromisoformat(first["received_at"]).tzinfo == UTC
    assert (first["duplicate"], again["duplicate"]) == (False, True)


async def test_a_webhook_signed_with_another_key_is_recorded_as_not_verified(
    lab: tuple[str, AlertReceivers],
) -> None:
    """A signature made with a key other than the lab's does not verify; an unsigned request
    neither."""
    base, receivers = lab
    for secret in ("not-the-lab-key", ""):
        notifier = webhook(base, secret)
        try:
            await notifier.send(Alert(key=f"k-{secret}", channel="ops", event=EVENT))
        finally:
            await notifier.aclose()
    assert [r.verified for r in receivers.by_name["ops"].received] == [False, False]


async def test_a_receiver_taken_down_answers_503_with_retry_after_until_brought_up(
    lab: tuple[str, AlertReceivers],
) -> None:
    """`POST /lab/alerts/ops/down`: the notifier's attempt fails as retryable with the
    receiver's Retry-After, nothing is recorded and the refusal is counted; after `/up` the
    same alert is accepted."""
    base, receivers = lab
    notifier = webhook(base, SECRET)
    async with httpx.AsyncClient(base_url=base) as client:
        try:
            assert (await client.post("/lab/alerts/ops/down")).json()["down"] is True
            with pytest.raises(NotifyError) as refused:
                await notifier.send(Alert(key="k-2", channel="ops", event=EVENT))
            assert refused.value.retryable and refused.value.retry_after == 2
            panel = (await client.get("/lab")).json()["alerts"]["ops"]
            assert panel == {"down": True, "received": 0, "refused": 1}
            assert (await client.post("/lab/alerts/ops/up")).json()["down"] is False
            await notifier.send(Alert(key="k-2", channel="ops", event=EVENT))
        finally:
            await notifier.aclose()
        unknown = await client.post("/lab/alerts/nobody/down")
    assert [r.key for r in receivers.by_name["ops"].received] == ["k-2"]
    assert unknown.status_code == 404 and "channels: ops, chat, team, pager" in unknown.text


async def test_slack_teams_and_pagerduty_receivers_answer_as_the_real_services(
    lab: tuple[str, AlertReceivers],
) -> None:
    """Each kind's real payload, POSTed: Slack's receiver answers 200 `ok`, Teams' 202,
    PagerDuty's (at `/v2/enqueue`) 202 with its JSON; each records the event type, region,
    summary and event id the message shows (PagerDuty: its dedup key and action)."""
    base, receivers = lab
    message = Alert(key="k-3", channel="any", event=EVENT)
    async with httpx.AsyncClient(base_url=base) as client:
        said = await client.post("/lab/alerts/chat/services/lab", json=slack.payload(message))
        teamed = await client.post("/lab/alerts/team/workflows/lab", json=teams.payload(message))
        paged = await client.post(
            "/lab/alerts/pager/v2/enqueue", json=pagerduty.payload(message, ROUTING_KEY)
        )
    assert (said.status_code, said.text) == (200, "ok")
    assert (teamed.status_code, teamed.content) == (202, b"")
    assert paged.status_code == 202
    assert paged.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": pagerduty.dedup_key(EVENT),
    }
    for name in ("chat", "team", "pager"):
        (got,) = receivers.by_name[name].received
        assert (got.type, got.region, got.event_id) == (
            "region.failing",
            "westeurope",
            EVENT["id"],
        ), name
        assert got.summary is not None and EVENT["summary"] in got.summary, name
    assert receivers.by_name["pager"].received[0].action == "trigger"


async def test_a_pagerduty_resolve_is_recorded_against_the_incident_it_ends(
    lab: tuple[str, AlertReceivers],
) -> None:
    """The real PagerDuty notifier: a trigger, then its problem's resolution, which carries
    only the dedup key, recorded as a `resolve` of the trigger's region; a routing key the
    receiver cannot take is refused with 400, which the notifier reports as final."""
    base, receivers = lab
    url = f"{base}/lab/alerts/pager/v2/enqueue"
    recovered = {**EVENT, "type": "region.recovered", "resolved": True, "severity": "info"}
    notifier = PagerDutyNotifier("pager", url, routing_key=ROUTING_KEY, clock=SystemClock())
    unkeyed = PagerDutyNotifier("pager", url, routing_key="", clock=SystemClock())
    try:
        await notifier.send(Alert(key="k-4", channel="pager", event=EVENT))
        await notifier.send(Alert(key="k-5", channel="pager", event=recovered))
        with pytest.raises(NotifyError) as refused:
            await unkeyed.send(Alert(key="k-6", channel="pager", event=EVENT))
    finally:
        await notifier.aclose()
        await unkeyed.aclose()
    trigger, resolve = receivers.by_name["pager"].received
    assert (resolve.action, resolve.key, resolve.region) == ("resolve", trigger.key, "westeurope")
    assert resolve.type is None and not resolve.duplicate
    assert not refused.value.retryable and "HTTP 400" in str(refused.value)
