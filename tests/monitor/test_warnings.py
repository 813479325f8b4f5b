"""The warnings about regionwatch itself (`monitor.warnings`), as pure functions: each appears
for the configuration and facts that call for it, and not for the clean setup beside it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest

from monitor.config import Config, parse_config
from monitor.controls import Control, ControlKind, Controls
from monitor.events import Severity
from monitor.fold import after_access_check
from monitor.policy import PolicyState, RegionPolicy, first_policy
from monitor.snapshot import TrafficManagerView
from monitor.storehealth import WriteFailure
from monitor.trafficmanager.model import (
    EndpointState,
    EndpointStatus,
    MonitorConfig,
    MonitorStatus,
    ProfileState,
    WriteAccess,
)
from monitor.trafficmanager.watch import AccessCheck
from monitor.warnings import SOURCES, Known, Warning, changes, compute_warnings

AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CAN_WRITE = AccessCheck(AT.timestamp(), access=WriteAccess(True, "allowed: ..."))
CANNOT_WRITE = AccessCheck(
    AT.timestamp(),
    access=WriteAccess(
        False,
        "missing permission Microsoft.Network/trafficManagerProfiles/externalEndpoints/write",
    ),
)
CHECK_FAILED = AccessCheck(AT.timestamp() + 3600, error="Azure answered 503")


def config(**sections: Any) -> Config:
    """Two regions and a Traffic Manager profile, in enforce mode: the clean setup."""
    data: dict[str, Any] = {
        "site": {"hostname": "blog.example.com"},
        "regions": {"westeurope": {"address": "192.0.2.1"}, "centralus": {"address": "192.0.2.2"}},
        "traffic_manager": {"subscription_id": "s", "resource_group": "rg", "profile": "blog"},
        "failover": {"mode": "enforce"},
    }
    data.update(sections)
    return parse_config(data)


def endpoint(name: str, *geo: str, always_serve: bool = False) -> EndpointState:
    return EndpointState(
        name=name,
        type_segment="ExternalEndpoints",
        target=f"{name}.example.net",
        endpoint_status=EndpointStatus.ENABLED,
        monitor_status=MonitorStatus.UNMONITORED if always_serve else MonitorStatus.ONLINE,
        geo_mapping=geo,
        always_serve=always_serve,
    )


def profile(*endpoints: EndpointState, routing: str = "Geographic") -> ProfileState:
    return ProfileState(
        name="blog",
        routing_method=routing,
        profile_status="Enabled",
        fqdn="blog.trafficmanager.net",
        ttl=60,
        monitor=MonitorConfig("HTTPS", 443, "/", 30, 10, 3),
        endpoints=endpoints,
    )


# WORLD is held by an endpoint regionwatch does not govern: both of ours can be disabled.
CLEAN_PROFILE = profile(
    endpoint("westeurope", "GEO-EU"), endpoint("centralus", "GEO-NA"), endpoint("fallback", "WORLD")
)


def known(**facts: Any) -> Known:
    """What a running service knows in the clean setup: the profile read, write access
    confirmed, a deploy marker posted, nothing held out, the store writing."""
    base = Known(
        profile=CLEAN_PROFILE,
        access=CAN_WRITE,
        deploy_marked=True,
        policy=first_policy(config()),
    )
    return replace(base, **facts)


def holding(region: str, *, dry_run: bool = False) -> PolicyState:
    """The policy holding `region` out of rotation since AT (by a write, or in dry-run)."""
    return PolicyState(
        MappingProxyType(
            {
                "westeurope": RegionPolicy(),
                "centralus": RegionPolicy(),
                region: RegionPolicy(out_since=AT, out_dry_run=dry_run),
            }
        )
    )


PAUSED = Controls((Control("p1", ControlKind.PAUSE, None, "Azure incident", "alice", AT, None),))


def codes(cfg: Config, facts: Known) -> list[str]:
    return [w.code for w in compute_warnings(cfg, facts)]


def test_the_clean_setup_has_no_warning() -> None:
    """Enforce mode, write access confirmed, a marker posted, WORLD not ours: nothing to say."""
    assert compute_warnings(config(), known()) == ()


# Each case: a configuration and facts, the one warning they raise, and a neighbour that
# differs in the one fact that matters and raises none.
CASES: list[tuple[str, Config, Known, Config, Known]] = [
    (
        "only_world_holder",
        config(),
        known(profile=profile(endpoint("westeurope", "GEO-EU"), endpoint("centralus", "WORLD"))),
        config(),
        known(
            profile=profile(
                endpoint("westeurope", "GEO-EU"), endpoint("centralus", "WORLD"), routing="Priority"
            )
        ),
    ),
    (
        "min_enabled_blocks_disables",
        config(failover={"mode": "enforce", "min_enabled": 3}),
        known(),
        config(failover={"mode": "enforce", "min_enabled": 2}),
        known(),
    ),
    (
        "min_enabled_blocks_disables",  # without a profile the regions stand for the endpoints
        config(traffic_manager=None, failover={"mode": "dry-run", "min_enabled": 2}),
        known(profile=None, access=None),
        config(traffic_manager=None, failover={"mode": "dry-run", "min_enabled": 1}),
        known(profile=None, access=None),
    ),
    (
        "enforce_cannot_write",
        config(),
        known(access=CANNOT_WRITE),
        config(failover={"mode": "dry-run"}),
        known(access=CANNOT_WRITE),
    ),
    (
        "write_access_unknown",
        config(),
        known(access_failure=CHECK_FAILED),
        config(failover={"mode": "dry-run"}),
        known(access_failure=CHECK_FAILED),
    ),
    (
        "always_serve_endpoint",
        config(),
        known(
            profile=profile(
                endpoint("westeurope", "GEO-EU", always_serve=True),
                endpoint("centralus", "GEO-NA"),
                endpoint("fallback", "WORLD"),
            )
        ),
        config(),
        known(
            profile=profile(
                endpoint("westeurope", "GEO-EU"),
                endpoint("centralus", "GEO-NA"),
                endpoint("fallback", "WORLD", always_serve=True),  # not ours: not our lever
            )
        ),
    ),
    (
        "decider_in_governed_region",
        config(api={"local_region": "westeurope"}),
        known(),
        config(api={"local_region": "westeurope"}, failover={"mode": "off"}),
        known(),
    ),
    (
        "no_deploy_marker",
        config(),
        known(deploy_marked=False),
        config(),
        known(deploy_marked=None),  # `check`: no store to ask, so nothing said
    ),
    (
        "holding_disables_outside_enforce",
        config(failover={"mode": "dry-run"}),
        known(policy=holding("westeurope")),
        config(failover={"mode": "dry-run"}),
        known(policy=holding("westeurope", dry_run=True)),  # only ever a would-disable
    ),
    (  # the pause in force (see PAUSED) while an endpoint is Disabled by regionwatch
        "paused_while_holding_disables",
        config(),
        known(policy=holding("westeurope"), controls=PAUSED, now=AT),
        config(),
        known(policy=holding("westeurope", dry_run=True), controls=PAUSED, now=AT),
    ),
    (
        "store_writes_failing",
        config(),
        known(store_failure=WriteFailure(AT, "database or disk is full")),
        config(),
        known(store_failure=None),
    ),
]


@pytest.mark.parametrize(
    ("code", "cfg", "facts", "clean_cfg", "clean_facts"),
    CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(CASES)],
)
def test_each_warning_appears_for_its_setup_and_not_beside_it(
    code: str, cfg: Config, facts: Known, clean_cfg: Config, clean_facts: Known
) -> None:
    """The setup raises exactly its warning; the neighbouring setup raises none."""
    assert codes(cfg, facts) == [code]
    assert codes(clean_cfg, clean_facts) == []


def test_every_source_is_covered_by_a_case() -> None:
    """No warning source without a case above: a new one needs its own."""
    produced = {case[0] for case in CASES}
    assert {source.__name__ for source in SOURCES} == produced


def test_the_only_world_holder_is_named_with_its_region() -> None:
    """The warning names the endpoint and the region that is never failed over."""
    facts = known(profile=profile(endpoint("westeurope", "GEO-EU"), endpoint("central", "WORLD")))
    cfg = config(regions={"westeurope": {"address": "192.0.2.1"}, "centralus": {
        "address": "192.0.2.2", "endpoint": "central"}})  # fmt: skip
    [warning] = compute_warnings(cfg, facts)
    assert (warning.subject, warning.severity) == ("central", Severity.WARNING)
    assert warning.message.startswith(
        "endpoint central is the only one mapping WORLD: failover can never disable it"
    )
    assert "region centralus is never failed over" in warning.message


def test_enforce_mode_without_write_permission_is_critical_and_says_what_to_do() -> None:
    """The missing permission is named, with the role to grant or the mode to set."""
    [warning] = compute_warnings(config(), known(access=CANNOT_WRITE))
    assert warning.severity is Severity.CRITICAL
    assert warning.text == (
        "enforce mode, cannot write to Traffic Manager: missing permission "
        "Microsoft.Network/trafficManagerProfiles/externalEndpoints/write; give regionwatch's "
        "identity the Traffic Manager Contributor role on the profile, or set "
        "failover.mode: dry-run"
    )


def test_a_failed_permission_check_is_unknown_and_the_last_answer_stands() -> None:
    """After a confirmed check, a failed one leaves write access known (no cannot-write
    warning), and says the check failed and which answer stands."""
    view = after_access_check(after_access_check(None, CAN_WRITE), CHECK_FAILED)
    assert view.access == CHECK_FAILED
    assert view.access_known == CAN_WRITE
    facts = known(access=view.access_known, access_failure=view.access)
    [warning] = compute_warnings(config(), facts)
    assert warning.code == "write_access_unknown"
    assert warning.text == (
        "the write-permission check failed at 2026-11-27T13:00:00Z: Azure answered 503; "
        "the check of 2026-11-27T12:00:00Z stands (can write); it is tried again every hour; "
        "if it keeps failing, read the error (Resource Manager unreachable, throttled, the "
        "listing refused)"
    )


def test_a_check_that_answers_replaces_the_last_known_one() -> None:
    """A later answer, even "cannot write", is the new known answer."""
    view = after_access_check(TrafficManagerView(access_known=CAN_WRITE), CANNOT_WRITE)
    assert view.access_known == CANNOT_WRITE


def test_always_serve_is_information_in_enforce_mode_and_a_warning_outside_it() -> None:
    """In enforce mode regionwatch is the lever and acts; in dry-run nothing takes the
    endpoint out, and the warning says so."""
    facts = known(
        profile=profile(
            endpoint("westeurope", "GEO-EU", always_serve=True),
            endpoint("centralus", "GEO-NA"),
            endpoint("fallback", "WORLD"),
        )
    )
    [enforce] = compute_warnings(config(), facts)
    [dry_run] = compute_warnings(config(failover={"mode": "dry-run"}), facts)
    assert (enforce.severity, dry_run.severity) == (Severity.INFO, Severity.WARNING)
    assert "nothing takes it out when westeurope fails" in dry_run.message


def test_a_disabled_second_world_holder_leaves_ours_the_only_one() -> None:
    """A Disabled endpoint mapping WORLD catches nobody: the enabled one of ours is still the
    only WORLD holder, and is named."""
    disabled = replace(endpoint("fallback", "WORLD"), endpoint_status=EndpointStatus.DISABLED)
    facts = known(
        profile=profile(endpoint("westeurope", "GEO-EU"), endpoint("centralus", "WORLD"), disabled)
    )
    assert [(w.code, w.subject) for w in compute_warnings(config(), facts)] == [
        ("only_world_holder", "centralus")
    ]


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"api": {"local_region": "westeurope"}}, "api.local_region"),
        ({"vantage": "westeurope"}, "vantage"),
    ],
)
def test_a_decider_whose_local_region_or_vantage_is_governed_is_named_by_that_key(
    sections: dict[str, Any], key: str
) -> None:
    """`api.local_region` or `vantage` naming a region it fails over: one warning, whose
    subject is the key that says so; nothing once that region's endpoint is not governed."""
    [warning] = compute_warnings(config(**sections), known())
    assert (warning.code, warning.subject) == ("decider_in_governed_region", key)
    assert warning.message.startswith(f"the decider runs in westeurope ({key})")
    assert warning.fix is not None and "observers" in warning.fix
    outside = profile(endpoint("centralus", "GEO-NA"), endpoint("fallback", "WORLD"))
    assert codes(config(**sections), known(profile=outside)) == []  # westeurope not governed


def test_one_warning_per_endpoint_held_out_of_enforce_mode() -> None:
    """Each region whose endpoint regionwatch disabled gets its own warning, naming it."""
    both = PolicyState(
        MappingProxyType(
            {
                "westeurope": RegionPolicy(out_since=AT),
                "centralus": RegionPolicy(out_since=AT),
            }
        )
    )
    found = compute_warnings(config(failover={"mode": "off"}), known(policy=both))
    assert [(w.code, w.subject) for w in found] == [
        ("holding_disables_outside_enforce", "westeurope"),
        ("holding_disables_outside_enforce", "centralus"),
    ]
    assert found[0].message.startswith(
        "failover.mode is off while westeurope's endpoint westeurope stays Disabled by "
        "regionwatch (since 2026-11-27T12:00:00Z)"
    )


def test_more_sources_plug_in_beside_the_built_in_ones() -> None:
    """compute_warnings takes the list of sources: another module adds its own."""

    def paused(cfg: Config, facts: Known) -> list[Warning]:
        return [Warning("peer_unreachable", Severity.WARNING, "a peer", None)]

    found = compute_warnings(config(), known(deploy_marked=False), (*SOURCES, paused))
    assert [w.code for w in found] == ["no_deploy_marker", "peer_unreachable"]


def test_changes_are_told_by_code_and_subject_not_by_words() -> None:
    """A warning whose words change (a newer error) is neither raised nor cleared again."""
    old = Warning("write_access_unknown", Severity.WARNING, "failed at 12:00", "traffic_manager")
    newer = replace(old, message="failed at 13:00")
    store = Warning("store_writes_failing", Severity.WARNING, "full", "storage")
    assert changes([old], [newer]) == ([], [])
    assert changes([old], [newer, store]) == ([store], [])
    assert changes([old, store], [store]) == ([], [old])


def persons_disable(region: str) -> PolicyState:
    """`region` out of rotation by a person's disable made through regionwatch: theirs."""
    held = RegionPolicy(out_since=AT, out_manual=True, operator="disabled by alice: migration")
    others = {name: RegionPolicy() for name in ("westeurope", "centralus")}
    return PolicyState(MappingProxyType({**others, region: held}))


@pytest.mark.parametrize(
    ("cfg", "facts"),
    [
        (config(failover={"mode": "dry-run"}), known(policy=persons_disable("westeurope"))),
        (config(), known(policy=persons_disable("westeurope"), controls=PAUSED, now=AT)),
    ],
    ids=["outside-enforce", "paused"],
)
def test_a_persons_disable_is_not_called_one_regionwatch_holds(cfg: Config, facts: Known) -> None:
    """An endpoint a person disabled through regionwatch is never put back automatically,
    paused or not, in any mode: neither warning says regionwatch holds it and would put it
    back once resumed or in enforce mode."""
    assert codes(cfg, facts) == []
