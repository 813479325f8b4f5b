"""Scripted faults, as the real SDK sees them (docs/traffic-manager.md)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceResponseError,
)
from servers import eventually

from lab.trafficmanager import StreamedBody, TrafficManagerEmulator

RG, PROFILE = "blog", "blog"
DISABLE = {"properties": {"endpointStatus": "Disabled"}}


def disable(client: Any) -> Any:
    return client.endpoints.update(RG, PROFILE, "ExternalEndpoints", "westeurope", DISABLE)


async def test_429_with_retry_after_is_retried_and_succeeds(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """Retry-After makes even a PATCH retryable; the second attempt goes through."""
    tm.faults.add(method="PATCH", status=429, headers={"Retry-After": "0"})
    client = azure.client(retry_total=3, retry_backoff_factor=0.01)
    endpoint = await asyncio.to_thread(disable, client)
    assert endpoint.endpoint_status == "Disabled"
    assert [e.status for e in tm.requests_log.where("PATCH")] == [429, 200]


async def test_patch_429_without_retry_after_is_not_retried(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """azure-core retries a PATCH on 429 only with Retry-After: one attempt, then the error."""
    tm.faults.add(method="PATCH", status=429)
    client = azure.client(retry_total=3, retry_backoff_factor=0.01)
    with pytest.raises(HttpResponseError) as throttled:
        await asyncio.to_thread(disable, client)
    assert throttled.value.status_code == 429
    assert throttled.value.error is not None
    assert throttled.value.error.code == "TooManyRequests"
    assert len(tm.requests_log.where("PATCH")) == 1
    assert tm.profile().endpoint("westeurope").status == "Enabled"  # type: ignore[union-attr]


async def test_get_429_without_retry_after_is_retried(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    tm.faults.add(method="GET", path_contains="trafficmanagerprofiles/blog", status=429, count=2)
    client = azure.client(retry_total=3, retry_backoff_factor=0.01)
    assert (await asyncio.to_thread(client.profiles.get, RG, PROFILE)).name == PROFILE
    assert [e.status for e in tm.requests_log.where("GET", "/trafficmanagerprofiles/blog")] == [
        429,
        429,
        200,
    ]


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_surface_without_retries(
    azure: Any, tm: TrafficManagerEmulator, status: int
) -> None:
    """With retry_total=0 a 5xx is an HttpResponseError carrying ARM's code."""
    tm.faults.add(method="GET", path_contains="/trafficmanagerprofiles/", status=status)
    client = azure.client(retry_total=0)
    with pytest.raises(HttpResponseError) as failed:
        await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    assert failed.value.status_code == status
    assert failed.value.error is not None
    assert failed.value.error.code in ("InternalServerError", "ServiceUnavailable")


async def test_persistent_503_exhausts_the_retries(azure: Any, tm: TrafficManagerEmulator) -> None:
    """1 + retry_status attempts, then the error."""
    tm.faults.add(method="GET", path_contains="/trafficmanagerprofiles/", status=503, count=None)
    client = azure.client(retry_total=5, retry_status=2, retry_backoff_factor=0.01)
    with pytest.raises(HttpResponseError):
        await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    assert len(tm.requests_log.where("GET", "/trafficmanagerprofiles/")) == 3


async def test_a_write_that_lands_can_answer_500(azure: Any, tm: TrafficManagerEmulator) -> None:
    """`lands`: the PATCH is carried out, and its answer replaced by the fault's: the write
    landed, the client was told it failed."""
    tm.faults.add(method="PATCH", status=500, lands=True)
    with pytest.raises(HttpResponseError) as failed:
        await asyncio.to_thread(disable, azure.client())
    assert failed.value.status_code == 500
    assert tm.profile().endpoint("westeurope").status == "Disabled"  # type: ignore[union-attr]
    assert [e.status for e in tm.requests_log.where("PATCH")] == [500]


async def test_a_write_that_lands_can_answer_too_late(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """`lands` with only a delay: the PATCH is carried out at once and answered late, so a
    client that stops waiting finds the write done, though it never heard so."""
    late = tm.faults.add(method="PATCH", status=None, delay=600, lands=True)
    client = azure.client()
    with pytest.raises(ServiceResponseError):
        await asyncio.to_thread(
            client.endpoints.update,
            RG,
            PROFILE,
            "ExternalEndpoints",
            "westeurope",
            DISABLE,
            read_timeout=0.2,
        )
    assert late.hits == 1
    assert tm.profile().endpoint("westeurope").status == "Disabled"  # type: ignore[union-attr]


async def test_403_is_authorization_failed(azure: Any, tm: TrafficManagerEmulator) -> None:
    tm.faults.add(method="PATCH", status=403)
    with pytest.raises(HttpResponseError) as refused:
        await asyncio.to_thread(disable, azure.client())
    assert refused.value.status_code == 403
    assert refused.value.error is not None
    assert refused.value.error.code == "AuthorizationFailed"


async def test_404_is_resource_not_found(azure: Any, tm: TrafficManagerEmulator) -> None:
    tm.faults.add(method="GET", path_contains="/externalEndpoints/westeurope", status=404)
    client = azure.client()
    with pytest.raises(ResourceNotFoundError):
        await asyncio.to_thread(
            client.endpoints.get, RG, PROFILE, "ExternalEndpoints", "westeurope"
        )


async def test_401_is_client_authentication_error(azure: Any, tm: TrafficManagerEmulator) -> None:
    tm.faults.add(method="GET", path_contains="/trafficmanagerprofiles/", status=401)
    with pytest.raises(ClientAuthenticationError):
        await asyncio.to_thread(azure.client().profiles.get, RG, PROFILE)


async def test_a_custom_body_is_sent_verbatim(azure: Any, tm: TrafficManagerEmulator) -> None:
    tm.faults.add(
        method="GET",
        path_contains="trafficManagerGeographicHierarchies",
        status=409,
        body={"error": {"code": "Conflict", "message": "someone else is writing"}},
    )
    with pytest.raises(HttpResponseError) as conflict:
        await asyncio.to_thread(azure.client().geographic_hierarchies.get_default)
    assert conflict.value.error is not None
    assert conflict.value.error.message == "someone else is writing"


async def test_slow_answers_arrive_late_and_can_time_out(
    azure: Any, tm: TrafficManagerEmulator
) -> None:
    """`status=None` with a delay is "slow": the normal answer, late; a short read timeout
    turns it into ServiceResponseError."""
    client = azure.client()
    await asyncio.to_thread(client.profiles.get, RG, PROFILE)  # token fetched beforehand
    tm.faults.add(method="GET", path_contains="/trafficmanagerprofiles/", status=None, delay=0.3)
    started = time.monotonic()
    assert (await asyncio.to_thread(client.profiles.get, RG, PROFILE)).name == PROFILE
    assert time.monotonic() - started >= 0.3

    tm.faults.add(method="GET", path_contains="/trafficmanagerprofiles/", status=None, delay=2.0)
    with pytest.raises(ServiceResponseError):
        await asyncio.to_thread(client.profiles.get, RG, PROFILE, read_timeout=0.2)


async def test_faults_can_hit_the_token_endpoint(azure: Any, tm: TrafficManagerEmulator) -> None:
    """Entra being down is a ClientAuthenticationError before ARM is ever asked."""
    tm.faults.add(method="POST", path_contains="/oauth2/v2.0/token", status=503, count=None)
    with pytest.raises(ClientAuthenticationError):
        client = azure.client(azure.credential(retry_total=0))
        await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    assert len(tm.requests_log.token_requests()) == 1
    assert tm.requests_log.where(path_contains="/subscriptions/") == []


async def test_rules_are_used_up_in_order(tm: TrafficManagerEmulator) -> None:
    first = tm.faults.add(method="GET", status=500, count=2)
    tm.faults.add(status=503)
    assert tm.faults.pending() == [first, tm.faults.pending()[1]]
    with pytest.raises(ValueError, match="status, a delay"):
        tm.faults.add(status=None)


async def test_a_streamed_body_goes_on_for_its_size_and_stops_when_the_client_does(
    tm: TrafficManagerEmulator, http: Any
) -> None:
    """A StreamedBody arrives chunked, `size` bytes in all; an endless one stops being sent
    once the client hangs up (`sent` stays far below what a reader that never stops gets)."""
    whole = StreamedBody(chunk=b"ab", size=5)
    tm.faults.add(method="GET", path_contains="/whole", status=200, body=whole)
    answer = await http.get("/whole")
    assert (answer.status_code, answer.content, whole.sent) == (200, b"ababa", 5)
    assert answer.headers["transfer-encoding"] == "chunked"

    endless = StreamedBody()
    tm.faults.add(method="GET", path_contains="/endless", status=200, body=endless)
    async with http.stream("GET", "/endless") as streamed:
        async for _ in streamed.aiter_raw():
            break
    await eventually(lambda: endless.done)
    assert endless.sent < 16 << 20  # the socket buffers' worth, not what a reader would take


async def test_a_dripped_body_sends_its_head_at_once_and_then_a_chunk_per_pause(
    tm: TrafficManagerEmulator, http: Any
) -> None:
    """`head` arrives with the answer's head; each `chunk` after it waits `pause` seconds, so
    bytes keep coming without the answer ever being whole (and the drip stops with the client)."""
    drip = StreamedBody(head=b"{", chunk=b" ", pause=0.2)
    tm.faults.add(method="GET", path_contains="/drip", status=200, body=drip)
    pieces: list[tuple[float, bytes]] = []
    async with http.stream("GET", "/drip") as streamed:
        started = time.monotonic()
        async for piece in streamed.aiter_raw():
            pieces.append((time.monotonic() - started, piece))
            if len(pieces) == 3:
                break
    assert [p for _, p in pieces] == [b"{", b" ", b" "]  # one at a time, never together
    assert pieces[2][0] >= 0.35  # two pauses before the second space
    await eventually(lambda: drip.done)
    assert drip.sent < 10


TOKEN_PATH = "/oauth2/v2.0/token"


async def test_injected_error_hits_the_next_matching_requests_then_heals(
    tm: TrafficManagerEmulator, http: Any
) -> None:
    """`inject("error", count=2)`: the same vocabulary as the origins; two 503s, then ARM."""
    tm.inject("error", path_contains="subscriptions", count=2)
    statuses = [(await http.get("/subscriptions/x")).status_code for _ in range(3)]
    assert statuses[:2] == [503, 503]
    assert statuses[2] != 503
    assert tm.faults.pending() == []


async def test_injected_fault_every_nth_request_until_healed(
    tm: TrafficManagerEmulator, http: Any
) -> None:
    """`every=3`: one request in three is hit, until `heal` removes exactly that fault."""
    tm.inject("error", status=500, every=3)
    scripted = tm.faults.add(status=429, path_contains="never-requested")
    statuses = [(await http.get("/subscriptions/x")).status_code for _ in range(6)]
    assert [s == 500 for s in statuses] == [False, False, True] * 2
    tm.heal("error")
    assert tm.faults.pending() == [scripted]
    tm.heal()
    assert tm.faults.pending() == []


@pytest.mark.parametrize("fault", ["reset", "malformed"])
async def test_injected_wire_faults_break_the_answer(
    tm: TrafficManagerEmulator, http: Any, fault: str
) -> None:
    """The emulator's HTTPS front resets or sends bytes that are not HTTP, as an origin can."""
    tm.inject(fault, count=1)
    with pytest.raises(httpx.TransportError):
        await http.get("/subscriptions/x")
    assert (await http.get("/subscriptions/x")).status_code != 500


async def test_injected_slow_and_hang_delay_the_answer(
    tm: TrafficManagerEmulator, http: Any
) -> None:
    """`slow` answers late; `hang` not before the client gives up."""
    tm.inject("slow", delay=0.3, count=1)
    started = time.monotonic()
    await http.get("/subscriptions/x")
    assert time.monotonic() - started >= 0.3
    tm.inject("hang", count=1)
    with pytest.raises(httpx.TimeoutException):
        await http.get("/subscriptions/x", timeout=0.3)


def test_emulator_faults_are_named_from_the_one_vocabulary(tm: TrafficManagerEmulator) -> None:
    """A fault the emulator does not take, or a bad parameter, fails as for the origins."""
    with pytest.raises(ValueError, match="unknown fault 'servfail'; known faults: error, hang"):
        tm.inject("servfail")
    with pytest.raises(ValueError, match="fault 'error': every must be an integer >= 1, got 0"):
        tm.inject("error", every=0)
    assert tm.faults.pending() == []
