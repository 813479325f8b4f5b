"""The emulator's ARM routes through the real azure-mgmt-trafficmanager SDK over HTTPS."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpRequest

from lab.trafficmanager import TrafficManagerEmulator

RG, PROFILE = "blog", "blog"


async def test_profile_get_shows_the_lab_profile(azure: Any) -> None:
    """Routing method, DNS config, monitor config and both endpoints, in the SDK's models."""
    client = azure.client()
    profile = await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    assert profile.traffic_routing_method == "Geographic"
    assert profile.location == "global"
    assert profile.dns_config.fqdn == "blog-tm.trafficmanager.net"
    assert profile.dns_config.ttl == 60
    assert profile.monitor_config.protocol == "HTTPS"
    assert profile.monitor_config.profile_monitor_status == "CheckingEndpoints"
    assert profile.id.endswith("/providers/Microsoft.Network/trafficManagerProfiles/blog")
    by_name = {e.name: e for e in profile.endpoints}
    assert sorted(by_name) == ["centralus", "westeurope"]
    west = by_name["westeurope"]
    assert west.type == "Microsoft.Network/trafficManagerProfiles/externalEndpoints"
    assert west.target == "20.1.2.3"
    assert west.endpoint_status == "Enabled"
    assert west.endpoint_monitor_status == "CheckingEndpoint"
    assert west.geo_mapping == ["GEO-EU"]
    assert (west.weight, west.priority) == (1, 1)
    assert by_name["centralus"].geo_mapping == ["WORLD"]


async def test_disabling_an_endpoint_is_one_patch_and_shows_in_the_profile(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """The PATCH carries only endpointStatus; the answer and the profile show Disabled."""
    client = azure.client()
    patched = await asyncio.to_thread(
        client.endpoints.update,
        RG,
        PROFILE,
        "ExternalEndpoints",
        "westeurope",
        {"properties": {"endpointStatus": "Disabled"}},
    )
    assert (patched.endpoint_status, patched.endpoint_monitor_status) == ("Disabled", "Disabled")
    assert patched.geo_mapping == ["GEO-EU"]  # merged, not replaced
    profile = await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    statuses = {e.name: (e.endpoint_status, e.endpoint_monitor_status) for e in profile.endpoints}
    assert statuses["westeurope"] == ("Disabled", "Disabled")
    assert statuses["centralus"] == ("Enabled", "CheckingEndpoint")

    patches = tm.requests_log.where("PATCH")
    assert [(p.path.rsplit("/", 2)[-2:], p.body, p.status) for p in patches] == [
        (["ExternalEndpoints", "westeurope"], {"properties": {"endpointStatus": "Disabled"}}, 200)
    ]
    assert tm.requests_log.where("PUT") == []


async def test_reenabling_an_endpoint_goes_back_to_checking(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """Re-enabled, the endpoint waits for its first probe again (docs/traffic-manager.md)."""
    profile = tm.profile()
    tm.state.record_probe(profile, profile.endpoints[0], True, "status 200")
    assert tm.state.monitor_status(profile, profile.endpoints[0]) == "Online"
    client = azure.client()
    update = client.endpoints.update
    await asyncio.to_thread(
        update,
        RG,
        PROFILE,
        "ExternalEndpoints",
        "westeurope",
        {"properties": {"endpointStatus": "Disabled"}},
    )
    enabled = await asyncio.to_thread(
        update,
        RG,
        PROFILE,
        "ExternalEndpoints",
        "westeurope",
        {"properties": {"endpointStatus": "Enabled"}},
    )
    assert (enabled.endpoint_status, enabled.endpoint_monitor_status) == (
        "Enabled",
        "CheckingEndpoint",
    )


async def test_missing_endpoint_and_profile_are_not_found(azure: Any) -> None:
    """404s with ARM's envelope become ResourceNotFoundError."""
    client = azure.client()
    with pytest.raises(ResourceNotFoundError) as missing_endpoint:
        await asyncio.to_thread(
            client.endpoints.update,
            RG,
            PROFILE,
            "ExternalEndpoints",
            "northeurope",
            {"properties": {"endpointStatus": "Disabled"}},
        )
    assert missing_endpoint.value.status_code == 404
    assert missing_endpoint.value.error is not None
    assert missing_endpoint.value.error.code == "NotFound"
    with pytest.raises(ResourceNotFoundError) as missing_profile:
        await asyncio.to_thread(client.profiles.get, RG, "nope")
    assert missing_profile.value.error is not None
    assert missing_profile.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as missing_group:
        await asyncio.to_thread(client.profiles.get, "other-rg", PROFILE)
    assert missing_group.value.error is not None
    assert missing_group.value.error.code == "ResourceGroupNotFound"


async def test_geographic_hierarchy(azure: Any) -> None:
    """WORLD, its regional groupings, and their countries."""
    client = azure.client()
    hierarchy = await asyncio.to_thread(client.geographic_hierarchies.get_default)
    world = hierarchy.geographic_hierarchy
    assert world.code == "WORLD"
    groups = {r.code: r for r in world.regions}
    assert {"GEO-EU", "GEO-NA", "GEO-AS", "GEO-AF", "GEO-SA", "GEO-AN", "GEO-ME", "GEO-AP"} <= set(
        groups
    )
    assert {"DE", "FR", "GB", "NL", "IE"} <= {r.code for r in groups["GEO-EU"].regions}
    assert {"US", "CA", "MX"} <= {r.code for r in groups["GEO-NA"].regions}


async def test_paths_match_case_insensitively(azure: Any, tm: TrafficManagerEmulator) -> None:
    """Any spelling of the fixed segments and of the names reaches the same resources."""
    client = azure.client()
    path = (
        f"/SUBSCRIPTIONS/{tm.subscription_id.upper()}/resourcegroups/BLOG/providers/"
        "MICROSOFT.NETWORK/TrafficManagerProfiles/Blog"
    )
    request = HttpRequest("GET", f"{path}?API-VERSION=2022-04-01")
    response = await asyncio.to_thread(client.send_request, request)
    assert response.status_code == 200
    assert response.json()["name"] == "blog"
    assert response.headers["x-ms-request-id"]


async def test_api_version_is_required_but_any_is_accepted(
    azure: Any, tm: TrafficManagerEmulator, http: httpx.AsyncClient
) -> None:
    """MissingApiVersionParameter without one; 2022-04-01 and 2026-09-01 both work."""
    credential = azure.credential()
    token = await asyncio.to_thread(credential.get_token, "https://management.azure.com/.default")
    url = f"/subscriptions/{tm.subscription_id}/resourceGroups/blog/providers/Microsoft.Network/trafficmanagerprofiles/blog"
    headers = {"Authorization": f"Bearer {token.token}"}
    missing = await http.get(url, headers=headers)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    for version in ("2022-04-01", "2026-09-01"):
        answer = await http.get(url, params={"api-version": version}, headers=headers)
        assert answer.status_code == 200


async def test_client_sent_monitor_statuses_are_ignored(azure: Any) -> None:
    """Traffic Manager computes endpointMonitorStatus; a client cannot set it."""
    client = azure.client()
    patched = await asyncio.to_thread(
        client.endpoints.update,
        RG,
        PROFILE,
        "ExternalEndpoints",
        "westeurope",
        {"properties": {"endpointMonitorStatus": "Online"}},
    )
    assert patched.endpoint_monitor_status == "CheckingEndpoint"
