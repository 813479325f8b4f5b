"""Entra ID and ARM's token and permission checks, through the real azure-identity."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx
import pytest
import trustme
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.rest import HttpRequest

from lab.trafficmanager import READER_ACTIONS, TrafficManagerEmulator

RG, PROFILE = "blog", "blog"
ARM_SCOPE = "https://management.azure.com/.default"
DISABLE = {"properties": {"endpointStatus": "Disabled"}}


def permissions_url(tm: TrafficManagerEmulator) -> str:
    return (
        f"/subscriptions/{tm.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/"
        f"trafficmanagerprofiles/{PROFILE}/providers/Microsoft.Authorization/permissions"
        "?api-version=2022-04-01"
    )


async def test_the_sdk_discovers_the_tenant_then_posts_client_credentials(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """MSAL's two calls (docs/traffic-manager.md), the ARM scope, and the secret kept out of the log."""
    client = azure.client()
    await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    first, second, third = list(tm.requests_log)[:3]
    assert (first.method, first.path) == (
        "GET",
        f"/{tm.tenant_id}/v2.0/.well-known/openid-configuration",
    )
    assert (second.method, second.path, second.status) == (
        "POST",
        f"/{tm.tenant_id}/oauth2/v2.0/token",
        200,
    )
    assert second.body["grant_type"] == "client_credentials"
    assert second.body["scope"] == ARM_SCOPE
    assert second.body["client_secret"] == "***"
    assert third.client_id == tm.client_id


async def test_wrong_secret_is_client_authentication_error(azure: Any) -> None:
    """Entra's AADSTS7000215 reaches the caller as ClientAuthenticationError."""
    client = azure.client(azure.credential(secret="not-the-secret"))
    with pytest.raises(ClientAuthenticationError) as refused:
        await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    assert "AADSTS7000215" in str(refused.value)


async def test_unknown_client_is_client_authentication_error(azure: Any) -> None:
    client = azure.client(azure.credential(client_id="00000000-0000-0000-0000-000000000000"))
    with pytest.raises(ClientAuthenticationError) as refused:
        await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    assert "AADSTS700016" in str(refused.value)


async def test_short_lived_tokens_are_refreshed_and_expired_ones_refused(
    azure: Any, tm: TrafficManagerEmulator, http: httpx.AsyncClient
) -> None:
    """With a 60 s lifetime the SDK fetches a new token once the old one expired; ARM refuses
    the expired one with ExpiredAuthenticationToken."""
    tm.directory.token_lifetime = 60
    client = azure.client()
    await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    old = tm.directory.issued[-1]
    assert old.expires_at - old.issued_at == 60

    tm.clock.advance(61)  # the emulator's clock only: no sleeping
    stale = await http.get(permissions_url(tm), headers={"Authorization": f"Bearer {old.token}"})
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert 'error="invalid_token"' in stale.headers["www-authenticate"]

    profile = await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    assert profile.name == PROFILE
    assert len(tm.directory.issued) == 2
    assert tm.directory.issued[-1].token != old.token
    assert [e.status for e in tm.requests_log.token_requests()] == [200, 200]


async def test_a_token_expired_on_the_server_is_refused_through_the_sdk(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """A client whose cached token the server considers expired gets ClientAuthenticationError
    carrying ARM's code, and a fresh credential gets through again."""
    client = azure.client()
    await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    tm.clock.advance(3601)
    with pytest.raises(ClientAuthenticationError) as refused:
        await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    assert refused.value.error is not None
    assert refused.value.error.code == "ExpiredAuthenticationToken"
    fresh = azure.client(azure.credential())
    assert (await asyncio.to_thread(fresh.profiles.get, RG, PROFILE)).name == PROFILE


async def test_requests_without_a_known_token_are_refused(
    tm: TrafficManagerEmulator, http: httpx.AsyncClient
) -> None:
    """401 with a Bearer challenge and ARM's envelope, for a missing or unknown token."""
    missing = await http.get(permissions_url(tm))
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer authorization_uri=")
    assert missing.json()["error"]["code"] == "AuthenticationFailed"
    forged = await http.get(permissions_url(tm), headers={"Authorization": "Bearer forged"})
    assert forged.json()["error"]["code"] == "InvalidAuthenticationToken"


async def test_tokens_for_another_audience_are_refused(
    tm: TrafficManagerEmulator, http: httpx.AsyncClient
) -> None:
    """A token ARM did not ask for (here: for the emulator's own URL) is the wrong audience."""
    tm.directory.audiences.append(tm.base_url)
    token = await http.post(
        f"/{tm.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tm.client_id,
            "client_secret": tm.client_secret,
            "scope": f"{tm.base_url}/.default",
        },
    )
    assert token.status_code == 200
    access = token.json()["access_token"]
    answer = await http.get(permissions_url(tm), headers={"Authorization": f"Bearer {access}"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


async def test_token_endpoint_errors_are_oauth_shaped(
    tm: TrafficManagerEmulator, http: httpx.AsyncClient
) -> None:
    """Unknown tenant, unsupported grant and a scope without /.default, as Entra answers them."""
    form = {"client_id": tm.client_id, "client_secret": tm.client_secret, "scope": ARM_SCOPE}
    cases = [
        ("/no-such-tenant/oauth2/v2.0/token", form | {"grant_type": "client_credentials"}, 90002),
        (f"/{tm.tenant_id}/oauth2/v2.0/token", form | {"grant_type": "password"}, 70003),
        (
            f"/{tm.tenant_id}/oauth2/v2.0/token",
            form | {"grant_type": "client_credentials", "scope": "https://management.azure.com"},
            1002012,
        ),
    ]
    for path, data, code in cases:
        answer = await http.post(path, data=data)
        assert answer.status_code == 400, path
        body = answer.json()
        assert body["error_codes"] == [code]
        assert body["error_description"].startswith(f"AADSTS{code}:")


async def test_reader_lists_read_permissions_and_cannot_patch(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """The permissions call answers the reader's actions; its PATCH is AuthorizationFailed."""
    reader = azure.client(azure.credential(tm.reader.client_id, tm.reader.secret))
    answer = await asyncio.to_thread(reader.send_request, HttpRequest("GET", permissions_url(tm)))
    assert answer.status_code == 200
    assert answer.json() == {
        "value": [
            {
                "actions": ["Microsoft.Network/trafficManagerProfiles/read", "*/read"],
                "notActions": [],
                "dataActions": [],
                "notDataActions": [],
            }
        ]
    }
    assert (await asyncio.to_thread(reader.profiles.get, RG, PROFILE)).name == PROFILE
    with pytest.raises(HttpResponseError) as refused:
        await asyncio.to_thread(
            reader.endpoints.update, RG, PROFILE, "ExternalEndpoints", "westeurope", DISABLE
        )
    assert refused.value.status_code == 403
    assert refused.value.error is not None
    assert refused.value.error.code == "AuthorizationFailed"
    assert "trafficManagerProfiles/externalEndpoints/write" in refused.value.error.message
    assert tm.profile().endpoint("westeurope").status == "Enabled"  # type: ignore[union-attr]


async def test_contributor_permissions_allow_writes(azure: Any, tm: TrafficManagerEmulator) -> None:
    """The default client holds Traffic Manager Contributor's actions."""
    client = azure.client()
    answer = await asyncio.to_thread(client.send_request, HttpRequest("GET", permissions_url(tm)))
    assert "Microsoft.Network/trafficManagerProfiles/*" in answer.json()["value"][0]["actions"]
    assert tm.contributor.may("Microsoft.Network/trafficManagerProfiles/externalEndpoints/write")
    assert not tm.reader.may("Microsoft.Network/trafficManagerProfiles/externalEndpoints/write")


async def test_a_role_changed_to_reader_takes_effect_for_a_signed_in_client(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """`assign_role` as an administrator would: the same client, its token still valid, now
    lists Reader's actions and its PATCH is AuthorizationFailed."""
    client = azure.client()
    assert (await asyncio.to_thread(client.profiles.get, RG, PROFILE)).name == PROFILE
    tm.assign_role(tm.contributor)
    answer = await asyncio.to_thread(client.send_request, HttpRequest("GET", permissions_url(tm)))
    assert answer.json()["value"][0]["actions"] == list(READER_ACTIONS)
    with pytest.raises(HttpResponseError) as refused:
        await asyncio.to_thread(
            client.endpoints.update, RG, PROFILE, "ExternalEndpoints", "westeurope", DISABLE
        )
    assert refused.value.status_code == 403
    assert not tm.contributor.may(
        "Microsoft.Network/trafficManagerProfiles/externalEndpoints/write"
    )
    assert tm.profile().endpoint("westeurope").status == "Enabled"  # type: ignore[union-attr]


async def test_not_actions_take_precedence(tm: TrafficManagerEmulator) -> None:
    limited = tm.add_client(
        actions=["Microsoft.Network/*"],
        not_actions=["Microsoft.Network/trafficManagerProfiles/*/write"],
    )
    assert limited.may("Microsoft.Network/trafficManagerProfiles/read")
    assert not limited.may("Microsoft.Network/trafficManagerProfiles/externalEndpoints/write")


async def test_emulator_certificate_covers_localhost_too(
    tm_ca: trustme.CA,
) -> None:
    """The server certificate names 127.0.0.1 and localhost (docs/traffic-manager.md, "The emulator")."""
    async with TrafficManagerEmulator(ca=tm_ca) as emulator:
        context = ssl.create_default_context(cafile=str(emulator.ca_file))
        port = emulator.base_url.rsplit(":", 1)[1]
        async with httpx.AsyncClient(verify=context) as http:
            discovery = await http.get(
                f"https://localhost:{port}/{emulator.tenant_id}/v2.0/.well-known/openid-configuration"
            )
        assert discovery.status_code == 200
        assert discovery.json()["token_endpoint"] == (
            f"{emulator.base_url}/{emulator.tenant_id}/oauth2/v2.0/token"
        )
