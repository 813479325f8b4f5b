"""Two retentions: the history (`storage.retention`) and the audit trail with the deploys
(`storage.audit_retention`), pruned by the service's housekeeping on the manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from storefaults import a_verdict

from monitor.clock import ManualClock
from monitor.config import ConfigError, parse_config
from monitor.deploys import Deploy, DeploySource
from monitor.service import Service, build_service

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1).total_seconds()


def config(tmp_path: Path, **storage: Any) -> Any:
    return parse_config(
        {
            "site": {"hostname": "blog.example.com"},
            "regions": {"westeurope": {"address": "192.0.2.1"}},
            "storage": {"path": str(tmp_path / "rw.db"), **storage},
        }
    )


async def an_action(service: Service, id: str, *, finish: bool = True) -> None:
    """One decision in the audit trail, decided now; finished (`done`) unless `finish` is
    False (still `intended`: the next start reconciles it)."""
    now = service.clock.now()
    await service.store.record_intent(
        id=id,
        region="westeurope",
        endpoint="westeurope",
        action="disable",
        decided_at=now,
        reason="westeurope failed 3 rounds in a row",
        evidence={},
        mode="enforce",
        urgent=False,
        instance="test",
    )
    if finish:
        await service.store.finish_action(id, status="done", detail="disabled", finished_at=now)


async def test_old_history_goes_while_the_audit_trail_of_the_same_age_stays(
    tmp_path: Path,
) -> None:
    """40 days on, with the defaults (30 d and 365 d): the rounds are pruned, the actions and
    the deploy marker of the same day are kept; past 365 days they go too, except a decision
    never finished, which the next start must still reconcile, and the region's last action
    carried out (who holds its endpoint)."""
    clock = ManualClock(START)
    async with build_service(config(tmp_path), clock=clock) as service:
        store = service.store
        await store.record(a_verdict(clock))
        await an_action(service, "finished")
        await an_action(service, "unfinished", finish=False)
        await store.record_deploy(
            Deploy("d1", "westeurope", "2.0.0", clock.now(), DeploySource.MARKER, by="ci")
        )

        clock.advance(40 * DAY)
        await service.housekeeping()
        assert await store.verdicts("westeurope") == []
        assert {a.id for a in await store.actions()} == {"finished", "unfinished"}
        assert [d.id for d in await store.deploys()] == ["d1"]
        assert await store.marker_posted()

        await an_action(service, "later")
        clock.advance(370 * DAY)
        await service.housekeeping()
        # "later" is westeurope's last action carried out: who holds the endpoint, kept.
        assert [a.id for a in await store.actions()] == ["later", "unfinished"]
        assert await store.deploys() == []
        assert not await store.marker_posted()


async def test_the_last_action_carried_out_on_an_endpoint_outlives_the_audit_retention(
    tmp_path: Path,
) -> None:
    """regionwatch disabled westeurope 400 days ago and holds it out since: pruning keeps that
    disable (only older ones of the region go), so a restart still finds the endpoint
    regionwatch's, not someone else's."""
    clock = ManualClock(START)
    async with build_service(config(tmp_path), clock=clock) as service:
        await an_action(service, "first")
        clock.advance(DAY)
        await an_action(service, "second")
        clock.advance(400 * DAY)
        await service.housekeeping()
        assert [a.id for a in await service.store.actions()] == ["second"]
    async with build_service(config(tmp_path), clock=clock) as service:
        policy = service.snapshot.policy
        assert policy is not None
        assert policy.region("westeurope").out_since == START + timedelta(days=1)


async def test_audit_retention_is_its_own_key(tmp_path: Path) -> None:
    """`storage.audit_retention: 10d` prunes the audit trail at 10 days, whatever the
    history's retention."""
    clock = ManualClock(START)
    settings = config(tmp_path, retention="30d", audit_retention="10d")
    async with build_service(settings, clock=clock) as service:
        await an_action(service, "finished")
        await an_action(service, "last")  # the region's last carried out: kept
        clock.advance(11 * DAY)
        await service.housekeeping()
        assert [a.id for a in await service.store.actions()] == ["last"]


def test_an_audit_retention_shorter_than_a_day_is_refused(tmp_path: Path) -> None:
    """A restart rebuilds the rate limit and the back-off from the last day of the audit
    trail: less than a day is a configuration error naming the key and why."""
    with pytest.raises(ConfigError) as error:
        config(tmp_path, audit_retention="12h")
    assert str(error.value).endswith(
        "storage.audit_retention: expected a duration of at least 1d (a restart reads the "
        "last day of the audit trail), got 12h"
    )
