"""`regionwatch alert-test` as a real process against a receiver on loopback: one attempt, the
receiver's answer printed, exit 0/1/2, and the channel's secret never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alertreceiver import Answer, Receiver, receiving
from processes import run_cli

ROUTING_KEY = "R0UT1NGKEY-do-not-leak"
PATH_SECRET = "s3cr3t-path"  # the path of every receiver URL (tests/alertreceiver.py)


def configuration(tmp_path: Path) -> Path:
    """Two channels whose URL (and key) come from the environment, as the docs advise."""
    path = tmp_path / "regionwatch.yaml"
    path.write_text(
        "site: {hostname: blog.example.com}\n"
        "regions: {westeurope: {address: 127.0.0.2}, centralus: {address: 127.0.0.3}}\n"
        "alerts:\n"
        "  - {name: chat, type: slack, url: '${HOOK_URL}'}\n"
        "  - {name: pager, type: pagerduty, url: '${HOOK_URL}', routing_key: '${PD_KEY}'}\n"
    )
    return path


async def alert_test(tmp_path: Path, receiver: Receiver, channel: str) -> tuple[int, str, str]:
    code, out, err = await run_cli(
        "alert-test",
        "--config",
        str(configuration(tmp_path)),
        "--channel",
        channel,
        env={"HOOK_URL": receiver.url, "PD_KEY": ROUTING_KEY},
    )
    assert PATH_SECRET not in out + err and ROUTING_KEY not in out + err
    return code, out, err


@pytest.mark.parametrize("channel", ["chat", "pager"])
async def test_a_delivered_test_alert_exits_0_and_says_so(tmp_path: Path, channel: str) -> None:
    """The receiver gets one critical region.failing about the first region, marked a test;
    the command prints that it was delivered and exits 0."""
    async with receiving() as receiver:
        receiver.script.append(Answer(202 if channel == "pager" else 200, body=b"ok"))
        code, out, err = await alert_test(tmp_path, receiver, channel)
    assert code == 0, err
    assert "delivered" in out and "http://127.0.0.1:" in out
    [got] = receiver.received
    text = got.body.decode()
    assert "TEST" in text and "westeurope" in text and "critical" in text
    if channel == "pager":
        assert json.loads(got.body)["routing_key"] == ROUTING_KEY


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (Answer(400, body=b"invalid_payload"), "answered HTTP 400 (invalid_payload)"),
        (Answer(500), "answered HTTP 500"),
    ],
)
async def test_a_refused_test_alert_exits_1_after_one_attempt(
    tmp_path: Path, answer: Answer, said: str
) -> None:
    """A refusal (or a 5xx, which the service would retry) is printed and exits 1; the test
    makes one attempt only."""
    async with receiving() as receiver:
        receiver.script.append(answer)
        code, _, err = await alert_test(tmp_path, receiver, "chat")
    assert code == 1
    assert said in err
    assert len(receiver.received) == 1


async def test_an_unreachable_receiver_exits_1(tmp_path: Path) -> None:
    """A receiver that is not listening: `could not connect`, exit 1."""
    async with receiving() as receiver:
        pass
    code, _, err = await alert_test(tmp_path, receiver, "chat")
    assert code == 1 and "could not connect" in err


async def test_an_unknown_channel_exits_2_naming_the_channels(tmp_path: Path) -> None:
    """A channel not in `alerts`: exit 2, and the channels that exist are named; nothing sent."""
    async with receiving() as receiver:
        code, _, err = await alert_test(tmp_path, receiver, "ops")
    assert code == 2
    assert "no channel named 'ops'" in err and "chat, pager" in err
    assert receiver.received == []
