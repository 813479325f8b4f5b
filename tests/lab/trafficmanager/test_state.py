"""The state model on its own: the documented status tables, probe transitions and what a
body may not hold, without sockets."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.trafficmanager import MonitorStatus, ProfileMonitorStatus, TrafficManagerState
from lab.trafficmanager.app import split_path
from lab.trafficmanager.errors import ArmError
from lab.trafficmanager.model import deep_merge
from lab.trafficmanager.seed import lab_profile_body

SUB, RG = "00000000-0000-0000-0000-000000000001", "blog"


def new_state(**monitor: Any) -> TrafficManagerState:
    state = TrafficManagerState(SUB, RG)
    body = lab_profile_body()
    body["properties"]["monitorConfig"] |= monitor
    state.put_profile("blog", body)
    return state


def put(state: TrafficManagerState, mutate: Any) -> None:
    body = lab_profile_body()
    mutate(body["properties"])
    state.put_profile("blog", body)


@given(
    tolerated=st.integers(min_value=0, max_value=9),
    outcomes=st.lists(st.booleans(), max_size=30),
)
def test_probe_outcomes_follow_the_documented_rule(tolerated: int, outcomes: list[bool]) -> None:
    """Degraded exactly when the trailing failures exceed the tolerance; otherwise Online once
    any probe succeeded, else still CheckingEndpoint."""
    state = new_state(toleratedNumberOfFailures=tolerated)
    profile = state.find_profile("blog")
    endpoint = profile.endpoints[0]
    for ok in outcomes:
        state.record_probe(profile, endpoint, ok, "")
    trailing = len(outcomes) - (
        max(i for i, ok in enumerate(outcomes) if ok) + 1 if any(outcomes) else 0
    )
    expected = (
        MonitorStatus.DEGRADED
        if trailing > tolerated
        else MonitorStatus.ONLINE
        if any(outcomes)
        else MonitorStatus.CHECKING
    )
    assert state.monitor_status(profile, endpoint) is expected


@pytest.mark.parametrize(
    ("profile_status", "endpoint_status", "expected"),
    [
        ("Disabled", "Enabled", MonitorStatus.INACTIVE),
        ("Disabled", "Disabled", MonitorStatus.DISABLED),
        ("Enabled", "Disabled", MonitorStatus.DISABLED),
        ("Enabled", "Enabled", MonitorStatus.CHECKING),
    ],
)
def test_endpoint_monitor_status_table(
    profile_status: str, endpoint_status: str, expected: MonitorStatus
) -> None:
    state = TrafficManagerState(SUB, RG)

    def mutate(props: dict[str, Any]) -> None:
        props["profileStatus"] = profile_status
        props["endpoints"][0]["properties"]["endpointStatus"] = endpoint_status

    put(state, mutate)
    profile = state.find_profile("blog")
    assert state.monitor_status(profile, profile.endpoints[0]) is expected


def test_always_serve_is_unmonitored() -> None:
    state = TrafficManagerState(SUB, RG)
    put(state, lambda p: p["endpoints"][0]["properties"].update(alwaysServe="Enabled"))
    profile = state.find_profile("blog")
    assert state.monitor_status(profile, profile.endpoints[0]) is MonitorStatus.UNMONITORED


@pytest.mark.parametrize(
    ("west", "central", "expected"),
    [
        ("Degraded", "Online", ProfileMonitorStatus.DEGRADED),
        ("Online", "CheckingEndpoint", ProfileMonitorStatus.ONLINE),
        ("CheckingEndpoint", "CheckingEndpoint", ProfileMonitorStatus.CHECKING),
        ("Stopped", "Stopped", ProfileMonitorStatus.INACTIVE),
    ],
)
def test_profile_monitor_status_table(
    west: str, central: str, expected: ProfileMonitorStatus
) -> None:
    state = new_state()
    profile = state.find_profile("blog")
    state.force_monitor_status(profile, "westeurope", west)
    state.force_monitor_status(profile, "centralus", central)
    assert state.profile_monitor_status(profile) is expected


def test_a_profile_with_everything_disabled_is_inactive() -> None:
    state = TrafficManagerState(SUB, RG)

    def mutate(props: dict[str, Any]) -> None:
        for endpoint in props["endpoints"]:
            endpoint["properties"]["endpointStatus"] = "Disabled"

    put(state, mutate)
    assert state.profile_monitor_status(state.find_profile("blog")) is ProfileMonitorStatus.INACTIVE


def _set(path: str, value: Any) -> Any:
    def mutate(props: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = props
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("trafficRoutingMethod", "Priority"), "Geographic profiles only"),
        (_set("endpoints.0.properties.geoMapping", ["XX"]), "region code 'XX' is invalid"),
        (_set("endpoints.0.properties.target", None), "'target' property is required"),
        (_set("endpoints.0.properties.weight", "3"), "'weight' must be an integer"),
    ],
)
def test_bodies_the_emulator_cannot_serve_are_refused(mutate: Any, message: str) -> None:
    """A profile it would route wrongly, or a value of the wrong type, is ARM's 400 naming why."""
    state = TrafficManagerState(SUB, RG)
    with pytest.raises(ArmError) as refused:
        put(state, mutate)
    assert refused.value.status == 400
    assert message in refused.value.message


def test_a_changed_target_is_checked_again() -> None:
    state = new_state()
    profile = state.find_profile("blog")
    state.record_probe(profile, profile.endpoints[0], True, "")
    state.patch_endpoint(
        SUB, RG, "blog", "ExternalEndpoints", "westeurope", {"properties": {"target": "20.1.2.4"}}
    )
    profile = state.find_profile("blog")
    assert state.monitor_status(profile, profile.endpoints[0]) is MonitorStatus.CHECKING


def test_stale_probe_results_are_dropped() -> None:
    """A probe that started before the target changed does not judge the new target."""
    state = new_state(toleratedNumberOfFailures=0)
    before = state.find_profile("blog")
    state.patch_endpoint(
        SUB, RG, "blog", "ExternalEndpoints", "westeurope", {"properties": {"target": "20.1.2.4"}}
    )
    state.record_probe(before, before.endpoints[0], False, "refused")
    after = state.find_profile("blog")
    assert state.monitor_status(after, after.endpoints[0]) is MonitorStatus.CHECKING


def test_deep_merge_merges_objects_replaces_lists_and_drops_nulls() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert deep_merge(base, {"a": {"c": [3]}, "d": None}) == {"a": {"b": 1, "c": [3]}}


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("/a/ep%201", ["a", "ep 1"]),
        ("/a/ep%2F1", ["a", "ep/1"]),
        ("//a//b/", ["a", "b"]),
    ],
)
def test_paths_split_before_decoding(path: str, segments: list[str]) -> None:
    assert split_path(path) == segments
