"""`monitor.blind` for an alert channel, as the conditions judge it: open while the channel is
failing, closed when it delivers, and after a restart kept until the channel is heard of again
(or dropped when the channel is no longer configured)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from monitor.alerts.health import ChannelTrouble
from monitor.conditions import judge_conditions
from monitor.config import Config, parse_config
from monitor.events import Condition, EventType, Severity

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "blind/alerts/ops"


def config(*channels: str) -> Config:
    return parse_config(
        {
            "site": {"hostname": "blog.example.com"},
            "regions": {"westeurope": {"address": "192.0.2.1"}},
            "alerts": [
                {"name": c, "type": "webhook", "url": "https://hooks.example.com/x"}
                for c in channels
            ],
        }
    )


def judged(
    cfg: Config,
    channels: Mapping[str, ChannelTrouble | None],
    before: Mapping[str, Condition] | None = None,
) -> dict[str, Condition]:
    return judge_conditions(
        config=cfg,
        regions=[],
        dns=None,
        traffic_manager_read=False,
        tm_failed_reads=0,
        tm_error=None,
        store_failure=None,
        before=before or {},
        now=NOW,
        alert_channels=channels,
    ).conditions


def test_a_failing_channel_is_blind_from_its_trouble_until_it_delivers() -> None:
    """A channel's trouble opens `blind/alerts/<channel>` since the trouble began, naming the
    channel and its error; a delivery (no trouble) closes it."""
    since = NOW - timedelta(minutes=2)
    trouble = ChannelTrouble(
        since, "webhook ops (https://hooks.example.com): answered HTTP 400", 1, 1
    )
    opened = judged(config("ops"), {"ops": trouble})
    blind = opened[KEY]
    assert (blind.type, blind.severity, blind.since) == (
        EventType.MONITOR_BLIND,
        Severity.WARNING,
        since,
    )
    assert blind.evidence["channel"] == "ops" and "HTTP 400" in blind.summary
    assert KEY not in judged(config("ops"), {"ops": None}, opened)


def test_after_a_restart_the_condition_stands_until_the_channel_is_heard_of() -> None:
    """A condition read back from the store stays open while the channel's health is not
    known yet, and closes when the channel is no longer configured."""
    restored = {KEY: Condition(KEY, EventType.MONITOR_BLIND, Severity.WARNING, None, NOW, "blind")}
    assert judged(config("ops"), {}, restored) == restored
    assert judged(config("pager"), {}, restored) == {}
