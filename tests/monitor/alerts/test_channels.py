"""Slack, Teams and PagerDuty notifiers, built from their configuration, against a real receiver
on loopback: each service's documented fields, resolutions, how answers are classified, and no
secret in any error or log line."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from alertreceiver import Answer, Receiver, receiving

from monitor.alerts.channels import build_notifier
from monitor.alerts.dispatcher import Backoff, Dispatcher
from monitor.alerts.notifier import Alert, Notifier, NotifyError
from monitor.alerts.outbox import event_json
from monitor.alerts.pagerduty import change_url
from monitor.clock import ManualClock
from monitor.config import AlertConfig
from monitor.events import Event, EventType, Severity
from monitor.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)
ROUTING_KEY = "R0UT1NGKEY-do-not-leak"
PATH_SECRET = "s3cr3t-path"  # the path of every receiver URL (tests/alertreceiver.py)
LINK = "https://regionwatch.example.com"
KINDS = ["slack", "teams", "pagerduty"]

# Slack, "Sending messages using incoming webhooks" and the Block Kit reference: `text` is the
# fallback notifications show when `blocks` are sent; every block has a `type`.
SLACK_REQUIRED = {"text", "blocks"}
# Microsoft Learn, "Create incoming webhooks with Workflows for Microsoft Teams" (Workflows take
# Adaptive Cards only) and the Adaptive Card schema: the message, its attachment, the card.
TEAMS_MESSAGE_REQUIRED = {"type", "attachments"}
TEAMS_ATTACHMENT_REQUIRED = {"contentType", "content"}
TEAMS_CARD_REQUIRED = {"$schema", "type", "version", "body"}
# PagerDuty developer docs, Events API v2 "Send an Alert Event": routing_key and event_action
# always; payload.summary, .source and .severity for a trigger; dedup_key to resolve.
PAGERDUTY_TRIGGER_REQUIRED = {"routing_key", "event_action", "dedup_key", "payload"}
PAGERDUTY_PAYLOAD_REQUIRED = {"summary", "source", "severity"}
PAGERDUTY_RESOLVE_REQUIRED = {"routing_key", "event_action", "dedup_key"}
PAGERDUTY_SEVERITIES = {"critical", "error", "warning", "info"}
# PagerDuty developer docs, Events API v2 "Send a Change Event": routing_key and payload.summary.
PAGERDUTY_CHANGE_REQUIRED = {"routing_key", "payload"}


def event(
    n: int,
    *,
    since: int = 0,
    resolved: bool = False,
    summary: str = "westeurope is failing: home: status 502",
    evidence: dict[str, Any] | None = None,
) -> Event:
    return Event(
        id=f"e{n:04d}",
        type=EventType.REGION_RECOVERED if resolved else EventType.REGION_FAILING,
        severity=Severity.CRITICAL,
        region="westeurope",
        at=START + timedelta(seconds=n),
        since=START + timedelta(seconds=since),
        summary=summary,
        evidence={"reasons": ["home: status 502"]} if evidence is None else evidence,
        instance="regionwatch-0",
        problem="region/westeurope",
        resolved=resolved,
    )


def alert(e: Event, link: str | None = LINK) -> Alert:
    return Alert(key="k", channel="ops", event=event_json(e), link=link)


def notifier(kind: str, url: str, clock: ManualClock, timeout: float = 5.0) -> Notifier:
    """Built as the service builds it: from the channel's configuration, through `KINDS`."""
    config = AlertConfig(
        name="ops",
        type=kind,  # type: ignore[arg-type]
        url=url,
        routing_key=ROUTING_KEY if kind == "pagerduty" else None,
        timeout=timedelta(seconds=timeout),
    )
    return build_notifier(config, clock)


def body(receiver: Receiver, i: int = 0) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(receiver.received[i].body)
    return document


async def send_once(kind: str, message: Alert, answer: Answer | None = None) -> Receiver:
    async with receiving() as receiver:
        if answer is not None:
            receiver.script.append(answer)
        n = notifier(kind, receiver.url, ManualClock(START))
        try:
            await n.send(message)
        finally:
            await n.aclose()
    return receiver


async def test_slack_posts_a_fallback_text_and_blocks_with_the_facts_and_a_link() -> None:
    """A Slack message has the fallback `text`, a header, the facts, the evidence, a button to
    regionwatch and the instance and event id."""
    receiver = await send_once("slack", alert(event(1)), Answer(200, body=b"ok"))
    got = body(receiver)
    assert got.keys() >= SLACK_REQUIRED
    assert all("type" in block for block in got["blocks"])
    assert "westeurope is failing" in got["text"]
    text = json.dumps(got["blocks"])
    for shown in ("critical", "westeurope", "2026-01-01 00:00:00 UTC", "reasons: home: status 502"):
        assert shown in text
    [button] = next(b for b in got["blocks"] if b["type"] == "actions")["elements"]
    assert button["url"] == LINK
    context = next(b for b in got["blocks"] if b["type"] == "context")
    assert "regionwatch-0" in context["elements"][0]["text"]
    assert "e0001" in context["elements"][0]["text"]


async def test_slack_shows_what_the_site_said_without_letting_it_mention_anyone() -> None:
    """Where Slack reads markup (the fallback text, mrkdwn), `<!channel>` from the watched site
    is escaped: shown, never a mention of everyone."""
    e = event(1, summary="failing: <!channel>", evidence={"body": "<!channel>"})
    got = body(await send_once("slack", alert(e)))
    marked = [got["text"], *mrkdwn(got["blocks"])]
    assert len(marked) > 2 and not any("<!channel>" in text for text in marked)
    assert "&lt;!channel&gt;" in got["text"]
    assert any("body: &lt;!channel&gt;" in text for text in marked)


def mrkdwn(node: object) -> list[str]:
    """Every mrkdwn text under `node`."""
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for v in node.values() for t in mrkdwn(v)]
    if isinstance(node, list):
        return [t for v in node for t in mrkdwn(v)]
    return []


async def test_teams_posts_one_adaptive_card_with_the_facts_and_a_link() -> None:
    """A Teams message is a `message` whose one attachment is an Adaptive Card (1.2 or later)
    with the facts and an Action.OpenUrl to regionwatch."""
    receiver = await send_once("teams", alert(event(1)), Answer(202))
    got = body(receiver)
    assert got.keys() >= TEAMS_MESSAGE_REQUIRED and got["type"] == "message"
    [attachment] = got["attachments"]
    assert attachment.keys() >= TEAMS_ATTACHMENT_REQUIRED
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card.keys() >= TEAMS_CARD_REQUIRED and card["type"] == "AdaptiveCard"
    assert tuple(map(int, card["version"].split("."))) >= (1, 2)
    [facts] = [b for b in card["body"] if b["type"] == "FactSet"]
    assert {"title": "Region", "value": "westeurope"} in facts["facts"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open regionwatch", "url": LINK}]


async def test_teams_keeps_a_card_with_huge_evidence_under_its_message_limit() -> None:
    """Evidence of a megabyte is cut short: the card stays under Teams' 28 KB."""
    huge = {f"k{i}": "x" * 100_000 for i in range(10)}
    receiver = await send_once("teams", alert(event(1, evidence=huge)))
    assert len(receiver.received[0].body) < 28_000


async def test_pagerduty_triggers_with_the_events_api_fields() -> None:
    """A trigger carries the routing key, a dedup key, and a payload with summary, source,
    severity (one of PagerDuty's), timestamp, the region and the evidence; the link as a link."""
    receiver = await send_once("pagerduty", alert(event(1)), Answer(202))
    got = body(receiver)
    assert got.keys() >= PAGERDUTY_TRIGGER_REQUIRED
    assert got["routing_key"] == ROUTING_KEY and got["event_action"] == "trigger"
    payload = got["payload"]
    assert payload.keys() >= PAGERDUTY_PAYLOAD_REQUIRED
    assert payload["severity"] in PAGERDUTY_SEVERITIES and payload["severity"] == "critical"
    assert payload["source"] == "westeurope" and payload["group"] == "westeurope"
    assert payload["timestamp"] == "2026-01-01T00:00:01+00:00"
    assert payload["custom_details"]["reasons"] == ["home: status 502"]
    assert got["links"] == [{"href": LINK, "text": "Open regionwatch"}]
    assert len(got["dedup_key"]) <= 255


async def test_pagerduty_keeps_a_summary_within_1024_characters() -> None:
    """A summary longer than the Events API takes is cut to 1024 characters."""
    receiver = await send_once("pagerduty", alert(event(1, summary="x" * 5000)))
    assert len(body(receiver)["payload"]["summary"]) == 1024


@pytest.mark.parametrize(("kind", "mark"), [("slack", ":white_check_mark:"), ("teams", "✅")])
async def test_a_resolution_reads_as_resolved_in_chat(kind: str, mark: str) -> None:
    """A resolution is marked resolved where a person reads it first."""
    got = body(await send_once(kind, alert(event(2, resolved=True))))
    headline = (
        got["text"] if kind == "slack" else got["attachments"][0]["content"]["body"][0]["text"]
    )
    assert headline.startswith(f"{mark} Resolved: ")


async def test_pagerduty_keeps_one_incident_per_problem_through_a_change_of_kind(
    store: Store,
) -> None:
    """Through the outbox: failing then degraded is one incident (one dedup key), which the
    resolve closes with no payload; the problem beginning again later triggers under the key
    again (a new incident, as PagerDuty opens one for a resolved key)."""
    clock = ManualClock(START)
    degraded = replace(event(2, since=2), type=EventType.REGION_DEGRADED, id="e0002d")
    async with receiving() as receiver:
        d = Dispatcher(
            store,
            notifier("pagerduty", receiver.url, clock),
            clock=clock,
            rng=random.Random(1),
            backoff=Backoff(),
        )
        await store.record_events(
            [event(1), degraded, event(3, since=2, resolved=True), event(4, since=4)]
        )
        for _ in range(4):
            await d.run_once()
        await d.stop()
    trigger, changed, resolve, again = (body(receiver, i) for i in range(4))
    assert [b["event_action"] for b in (trigger, changed, again)] == ["trigger"] * 3
    assert resolve.keys() == PAGERDUTY_RESOLVE_REQUIRED and resolve["event_action"] == "resolve"
    assert len({b["dedup_key"] for b in (trigger, changed, resolve, again)}) == 1
    assert ROUTING_KEY not in trigger["dedup_key"]


async def test_pagerduty_sends_a_fact_as_a_change_event() -> None:
    """An endpoint disabled opens no incident nothing would resolve: it goes to the Change
    Events address with its summary, source, time and details."""
    disabled = replace(event(1), type=EventType.ENDPOINT_DISABLED, problem="action/a1", id="e0001x")
    async with receiving() as receiver:
        receiver.script.append(Answer(202))
        events_api = receiver.url.replace("/hooks/s3cr3t-path", "/pd/v2/enqueue")
        n = notifier("pagerduty", events_api, ManualClock(START))
        await n.send(alert(disabled))
        await n.aclose()
    [request] = receiver.received
    assert request.path == "/pd/v2/change/enqueue"
    got = json.loads(request.body)
    assert got.keys() >= PAGERDUTY_CHANGE_REQUIRED and "event_action" not in got
    assert got["routing_key"] == ROUTING_KEY
    assert got["payload"].keys() >= {"summary", "source", "timestamp", "custom_details"}
    assert got["payload"]["custom_details"]["type"] == "endpoint.disabled"


def test_the_change_events_address_sits_beside_the_events_address() -> None:
    """`.../v2/enqueue` becomes `.../v2/change/enqueue`; any other address is kept."""
    assert change_url("https://events.pagerduty.com/v2/enqueue") == (
        "https://events.pagerduty.com/v2/change/enqueue"
    )
    assert change_url("http://127.0.0.1:9/pd/v2/enqueue?x=1") == (
        "http://127.0.0.1:9/pd/v2/change/enqueue?x=1"
    )
    assert change_url("https://proxy.example.com/pd") == "https://proxy.example.com/pd"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("answer", "retryable", "retry_after"),
    [
        (Answer(429, {"Retry-After": "7"}), True, 7.0),
        (Answer(500), True, None),
        (Answer(503, {"Retry-After": "2"}), True, 2.0),
        (Answer(400), False, None),
        (Answer(404, body=b"no_service"), False, None),
        (Answer(delay=1.0), True, None),
    ],
    ids=["429", "500", "503", "400", "404", "timeout"],
)
async def test_every_kind_classifies_answers_alike(
    kind: str, answer: Answer, retryable: bool, retry_after: float | None
) -> None:
    """429 (after its Retry-After), 5xx and a timeout are worth another attempt; other 4xx
    are final."""
    async with receiving() as receiver:
        receiver.script.append(answer)
        n = notifier(kind, receiver.url, ManualClock(START), timeout=0.3)
        with pytest.raises(NotifyError) as raised:
            await n.send(alert(event(1)))
        await n.aclose()
    assert raised.value.retryable is retryable
    assert raised.value.retry_after == retry_after
    assert str(raised.value).startswith(f"{kind} ops (http://127.0.0.1:")


@pytest.mark.parametrize(
    ("kind", "answer", "said"),
    [
        ("slack", Answer(400, body=b"invalid_payload"), "invalid_payload"),
        (
            "pagerduty",
            Answer(400, body=b'{"status":"invalid event","message":"Event object is invalid"}'),
            "Event object is invalid",
        ),
    ],
)
async def test_a_refusal_names_the_services_reason(kind: str, answer: Answer, said: str) -> None:
    """Slack's error code and PagerDuty's message are in the error, to say what to fix."""
    with pytest.raises(NotifyError, match=f"answered HTTP 400 \\({said}\\)"):
        await send_once(kind, alert(event(1)), answer)


@pytest.mark.parametrize("kind", KINDS)
async def test_no_secret_in_any_error_or_log_line(kind: str, store: Store) -> None:
    """Through timeouts, 5xx, a refusal that echoes the request, and a receiver gone, neither
    the URL's path nor the routing key appears in an error, a dead letter or a log line."""
    clock = ManualClock(START)
    with structlog.testing.capture_logs() as logs:
        async with receiving() as receiver:
            url = receiver.url
            echo = f"{url} {ROUTING_KEY}".encode()
            receiver.script.extend([Answer(500), Answer(delay=1.0), Answer(400, body=echo)])
            d = Dispatcher(
                store,
                notifier(kind, url, clock, timeout=0.3),
                clock=clock,
                rng=random.Random(1),
                backoff=Backoff(),
            )
            await store.record_events([event(1), event(2)])
            for _ in range(3):
                if wait := await d.run_once():
                    clock.advance(wait)
        await d.run_once()  # the receiver is gone: the next alert cannot connect
        await d.stop()
    dead = await store.dead_letters()
    assert dead and any("could not connect" in str(line) for line in logs)
    for text in [*map(str, logs), *(str(row) for row in dead)]:
        assert PATH_SECRET not in text
        assert ROUTING_KEY not in text
