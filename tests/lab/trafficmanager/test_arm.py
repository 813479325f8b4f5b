"""The emulator's ARM routes through the real azure-mgmt-trafficmanager SDK over HTTPS."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
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


async def test_endpoint_get_and_lists(azure: Any) -> None:
    """An endpoint by itself, and profile lists by resource group and by subscription."""
    client = azure.client()
    endpoint = await asyncio.to_thread(
        client.endpoints.get, RG, PROFILE, "ExternalEndpoints", "centralus"
    )
    assert endpoint.target == "52.165.160.200"
    by_group = await asyncio.to_thread(
        lambda: [p.name for p in client.profiles.list_by_resource_group(RG)]
    )
    by_subscription = await asyncio.to_thread(
        lambda: [p.name for p in client.profiles.list_by_subscription()]
    )
    assert by_group == by_subscription == ["blog"]


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


async def test_an_endpoint_of_another_type_is_not_found(azure: Any) -> None:
    """The type segment is part of the endpoint's identity."""
    client = azure.client()
    with pytest.raises(ResourceNotFoundError):
        await asyncio.to_thread(client.endpoints.get, RG, PROFILE, "AzureEndpoints", "westeurope")


async def test_profile_patch_with_endpoints_is_refused(azure: Any) -> None:
    """The service's documented 400: endpoints cannot be PATCHed through the profile."""
    client = azure.client()
    with pytest.raises(HttpResponseError) as refused:
        await asyncio.to_thread(
            client.profiles.update, RG, PROFILE, {"properties": {"endpoints": []}}
        )
    assert refused.value.status_code == 400
    assert "cannot be specified when updating a profile using PATCH" in str(refused.value)


async def test_profile_patch_deep_merges(azure: Any) -> None:
    """A PATCH of one nested field keeps its siblings and the endpoints."""
    client = azure.client()
    patched = await asyncio.to_thread(
        client.profiles.update, RG, PROFILE, {"properties": {"dnsConfig": {"ttl": 30}}}
    )
    assert patched.dns_config.ttl == 30
    assert patched.dns_config.relative_name == "blog-tm"
    assert len(patched.endpoints) == 2


async def test_profile_patch_is_validated(azure: Any) -> None:
    """Documented limits hold on PATCH too: the interval is 10 or 30 seconds."""
    client = azure.client()
    with pytest.raises(HttpResponseError) as refused:
        await asyncio.to_thread(
            client.profiles.update,
            RG,
            PROFILE,
            {"properties": {"monitorConfig": {"intervalInSeconds": 15}}},
        )
    assert refused.value.status_code == 400
    assert refused.value.error is not None
    assert refused.value.error.code == "BadRequest"


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


async def test_endpoint_names_are_percent_decoded_per_segment(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """`ep 1` and `ep/1` travel as `ep%201` and `ep%2F1`: one segment each."""
    client = azure.client()
    for name in ("ep 1", "ep/1"):
        created = await asyncio.to_thread(
            client.endpoints.create_or_update,
            RG,
            PROFILE,
            "ExternalEndpoints",
            name,
            {
                "properties": {
                    "target": "198.51.100.7",
                    "geoMapping": ["GEO-AS" if " " in name else "GEO-AF"],
                }
            },
        )
        assert created.name == name
        fetched = await asyncio.to_thread(
            client.endpoints.get, RG, PROFILE, "ExternalEndpoints", name
        )
        assert fetched.target == "198.51.100.7"
    assert {e.name for e in tm.profile().endpoints} >= {"ep 1", "ep/1"}
    assert created.priority == 4  # assigned: the next after the highest in use


async def test_paths_match_case_insensitively(azure: Any, tm: TrafficManagerEmulator) -> None:
    """Any spelling of the fixed segments and of the names reaches the same resources."""
    client = azure.client()
    path = (
        f"/SUBSCRIPTIONS/{tm.subscription_id.upper()}/resourcegroups/BLOG/providers/"
        "MICROSOFT.NETWORK/TrafficManagerProfiles/Blog/externalendpoints/WestEurope"
    )
    request = HttpRequest("GET", f"{path}?API-VERSION=2022-04-01")
    response = await asyncio.to_thread(client.send_request, request)
    assert response.status_code == 200
    assert response.json()["name"] == "westeurope"
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


async def test_put_and_delete_of_an_endpoint(azure: Any, tm: TrafficManagerEmulator) -> None:
    """PUT creates (201 on the wire) with server defaults; DELETE answers a JSON body."""
    client = azure.client()
    created = await asyncio.to_thread(
        client.endpoints.create_or_update,
        RG,
        PROFILE,
        "ExternalEndpoints",
        "japaneast",
        {"properties": {"target": "203.0.113.9", "geoMapping": ["JP"]}},
    )
    assert (created.weight, created.endpoint_monitor_status) == (1, "CheckingEndpoint")
    await asyncio.to_thread(client.endpoints.delete, RG, PROFILE, "ExternalEndpoints", "japaneast")
    assert tm.profile().endpoint("japaneast") is None
    assert [e.status for e in tm.requests_log.where("PUT")] == [201]
    assert [e.status for e in tm.requests_log.where("DELETE")] == [200]


async def test_a_region_maps_to_one_endpoint_only(azure: Any) -> None:
    """Under Geographic routing a code mapped twice is refused."""
    client = azure.client()
    with pytest.raises(HttpResponseError) as refused:
        await asyncio.to_thread(
            client.endpoints.update,
            RG,
            PROFILE,
            "ExternalEndpoints",
            "centralus",
            {"properties": {"geoMapping": ["WORLD", "GEO-EU"]}},
        )
    assert refused.value.status_code == 400
    assert "GEO-EU" in str(refused.value)


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
