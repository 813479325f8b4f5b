"""The Traffic Manager client: the real SDK over real HTTPS against the lab's emulator."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import dns.asyncquery
import dns.edns
import dns.message
import dns.rdatatype
import pytest
import structlog
from servers import eventually

from lab.trafficmanager import StreamedBody, TrafficManagerEmulator
from monitor.clock import SystemClock
from monitor.config import TrafficManagerConfig
from monitor.errors import TrafficManagerError
from monitor.fold import after_read
from monitor.snapshot import TrafficManagerView
from monitor.trafficmanager.azure import (
    AzureTrafficManager,
    RetryPolicy,
    call_with_retries,
    evaluate_permissions,
    redact,
)
from monitor.trafficmanager.geography import BUILTIN
from monitor.trafficmanager.model import EndpointStatus, ProfileState
from monitor.trafficmanager.watch import AccessCheck, Outage, Reading, check_access, read_profile

EUROPE = "81.2.69.0/24"  # GB in the emulator's geography table
PROFILE_GET = "trafficmanagerprofiles/blog"
NOT_THE_PROFILE = "Traffic Manager answered something that is not the profile blog"
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, retry_after_cap=0.05)


def config_for(tm: TrafficManagerEmulator) -> TrafficManagerConfig:
    return TrafficManagerConfig(
        subscription_id=tm.subscription_id,
        resource_group=tm.resource_group,
        profile="blog",
        resource_manager_url=tm.base_url,
        authority_host=tm.base_url,
        ca_file=tm.ca_file,
    )


def use_identity(
    monkeypatch: pytest.MonkeyPatch, tm: TrafficManagerEmulator, *, client_id: str, secret: str
) -> None:
    """What a deployment sets for DefaultAzureCredential; the chain is held to the environment
    credential so nothing can try a managed-identity endpoint."""
    monkeypatch.setenv("AZURE_TENANT_ID", tm.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", client_id)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", secret)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")


@pytest.fixture
async def client(
    tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AzureTrafficManager]:
    use_identity(monkeypatch, tm, client_id=tm.contributor.client_id, secret=tm.contributor.secret)
    azure = AzureTrafficManager(config_for(tm), retry=FAST)
    yield azure
    await azure.close()


async def europe_answer(tm: TrafficManagerEmulator) -> list[str]:
    query = dns.message.make_query(
        "blog-tm.trafficmanager.net",
        "A",
        use_edns=0,
        options=[dns.edns.ECSOption.from_text(EUROPE)],
    )
    response = await dns.asyncquery.udp(query, "127.0.0.1", port=tm.dns_port, timeout=2)
    return [
        r.to_text() for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for r in rrset
    ]


async def test_reads_the_profile_and_every_endpoint(client: AzureTrafficManager) -> None:
    """Routing method, DNS name and TTL, monitor config, and each endpoint's state and mapping."""
    profile = await client.profile()
    assert isinstance(profile, ProfileState)
    assert (profile.name, profile.routing_method) == ("blog", "Geographic")
    assert (profile.fqdn, profile.ttl) == ("blog-tm.trafficmanager.net", 60)
    assert (profile.monitor.protocol, profile.monitor.path) == ("HTTPS", "/")
    assert ("Host", "blog.example.com") in profile.monitor.custom_headers
    west = profile.endpoint("WestEurope")  # names compare case-insensitively, as in Azure
    assert west is not None
    assert (west.type_segment, west.target, west.endpoint_status) == (
        "ExternalEndpoints",
        "20.1.2.3",
        "Enabled",
    )
    assert west.geo_mapping == ("GEO-EU",)
    central = profile.endpoint("centralus")
    assert central is not None and central.geo_mapping == ("WORLD",)


async def test_disable_and_enable_patch_only_the_status_and_move_dns(
    client: AzureTrafficManager, tm: TrafficManagerEmulator
) -> None:
    """Disabling westeurope takes it out of Europe's DNS answer; enabling brings it back; the
    only writes on the wire are PATCHes of endpointStatus alone."""
    assert await europe_answer(tm) == ["20.1.2.3"]
    west = (await client.profile()).endpoint("westeurope")
    assert west is not None
    disabled = await client.set_status(west, "Disabled")
    assert (disabled.endpoint_status, disabled.monitor_status) == ("Disabled", "Disabled")
    assert await europe_answer(tm) == ["52.165.160.200"]
    enabled = await client.set_status(west, "Enabled")
    assert enabled.endpoint_status == "Enabled"
    assert await europe_answer(tm) == ["20.1.2.3"]

    writes = [r for r in tm.requests_log.where() if r.method not in ("GET", "POST")]
    assert [r.method for r in writes] == ["PATCH", "PATCH"]
    assert [r.body for r in writes] == [
        {"properties": {"endpointStatus": "Disabled"}},
        {"properties": {"endpointStatus": "Enabled"}},
    ]
    assert all(r.path.lower().endswith("/externalendpoints/westeurope") for r in writes)


async def test_a_read_throttled_with_retry_after_is_retried(
    client: AzureTrafficManager, tm: TrafficManagerEmulator
) -> None:
    """A 429 with Retry-After on a read is waited out (capped) and retried."""
    tm.faults.add(
        method="GET",
        path_contains=PROFILE_GET,
        status=429,
        headers={"Retry-After": "3600"},
        count=2,
    )
    assert (await client.profile()).name == "blog"
    assert [r.status for r in tm.requests_log.where("GET", PROFILE_GET)] == [429, 429, 200]


async def test_the_write_makes_one_attempt_and_says_whether_to_retry(
    client: AzureTrafficManager, tm: TrafficManagerEmulator
) -> None:
    """set_status makes exactly one PATCH: a 429 comes back as a retryable error with its
    Retry-After (the actuator owns the write's retries, so each attempt is journalled), and
    a 403 as one that is not."""
    west = (await client.profile()).endpoint("westeurope")
    assert west is not None
    tm.faults.add(method="PATCH", status=429, headers={"Retry-After": "7"}, count=1)
    with pytest.raises(TrafficManagerError) as throttled:
        await client.set_status(west, EndpointStatus.DISABLED)
    assert (throttled.value.retryable, throttled.value.retry_after) == (True, 7.0)
    tm.faults.add(method="PATCH", status=403, count=1)
    with pytest.raises(TrafficManagerError) as refused:
        await client.set_status(west, EndpointStatus.DISABLED)
    assert refused.value.retryable is False
    assert [r.status for r in tm.requests_log.where(method="PATCH")] == [429, 403]
    landed = await client.set_status(west, EndpointStatus.DISABLED)
    assert landed.endpoint_status is EndpointStatus.DISABLED


async def test_persistent_5xx_gives_up_as_a_retryable_error(
    client: AzureTrafficManager, tm: TrafficManagerEmulator
) -> None:
    """503 on every attempt: three attempts, then a retryable TrafficManagerError."""
    tm.faults.add(method="GET", path_contains="trafficmanagerprofiles/blog", status=503, count=None)
    with pytest.raises(TrafficManagerError) as raised:
        await client.profile()
    assert raised.value.retryable is True
    assert raised.value.status == 503
    assert (
        len(tm.requests_log.where(method="GET", path_contains="trafficmanagerprofiles/blog")) == 3
    )


@pytest.mark.parametrize(("status", "code"), [(403, "AuthorizationFailed"), (404, "NotFound")])
async def test_permission_and_missing_errors_are_not_retried(
    client: AzureTrafficManager, tm: TrafficManagerEmulator, status: int, code: str
) -> None:
    """403 and 404 will not change by retrying: one attempt, not retryable, code kept."""
    body = {"error": {"code": code, "message": "nope"}}
    tm.faults.add(
        method="GET", path_contains="trafficmanagerprofiles/blog", status=status, body=body
    )
    with pytest.raises(TrafficManagerError) as raised:
        await client.profile()
    assert (raised.value.retryable, raised.value.status, raised.value.code) == (False, status, code)
    assert (
        len(tm.requests_log.where(method="GET", path_contains="trafficmanagerprofiles/blog")) == 1
    )


async def test_a_slow_answer_times_out_as_retryable(
    tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer slower than the read timeout is a retryable error, not a hang."""
    use_identity(monkeypatch, tm, client_id=tm.contributor.client_id, secret=tm.contributor.secret)
    azure = AzureTrafficManager(config_for(tm), retry=RetryPolicy(attempts=1), read_timeout=0.3)
    tm.faults.add(method="GET", path_contains="trafficmanagerprofiles/blog", status=None, delay=1.5)
    try:
        with pytest.raises(TrafficManagerError) as raised:
            await azure.profile()
    finally:
        await azure.close()
    assert raised.value.retryable is True
    assert str(raised.value).startswith("cannot reach Azure")


async def test_close_abandons_a_call_that_never_answers(
    tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read waiting on an answer that never comes holds neither close() nor the process's
    exit: it is cancelled, close() returns, and its thread is a daemon the exit does not join."""
    use_identity(monkeypatch, tm, client_id=tm.contributor.client_id, secret=tm.contributor.secret)
    azure = AzureTrafficManager(config_for(tm), retry=RetryPolicy(attempts=1))
    hang = tm.faults.add(
        method="GET", path_contains="trafficmanagerprofiles/blog", status=None, delay=600
    )
    read = asyncio.create_task(azure.profile())
    await eventually(lambda: hang.hits >= 1)
    read.cancel()
    await asyncio.wait_for(azure.close(), timeout=3)
    assert read.cancelled()
    workers = [t for t in threading.enumerate() if t.name.startswith("regionwatch-azure")]
    assert workers and all(t.daemon for t in workers)


async def test_a_wrong_secret_fails_clearly_and_never_shows_the_secret(
    tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Authentication failure: not retryable, and neither the secret nor a token in the error
    or in any log line."""
    secret = "wrong-secret-do-not-print"
    use_identity(monkeypatch, tm, client_id=tm.contributor.client_id, secret=secret)
    azure = AzureTrafficManager(config_for(tm), retry=FAST)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(TrafficManagerError) as raised:
            await azure.profile()
    finally:
        await azure.close()
    assert raised.value.retryable is False
    assert str(raised.value).startswith("authentication failed")
    assert secret not in str(raised.value)
    assert secret not in caplog.text
    assert tm.contributor.secret not in caplog.text


async def test_tokens_are_fetched_again_after_they_expire(
    tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With short-lived tokens, a read after expiry gets a new token and succeeds."""
    use_identity(monkeypatch, tm, client_id=tm.contributor.client_id, secret=tm.contributor.secret)
    azure = AzureTrafficManager(config_for(tm), retry=FAST)
    try:
        await azure.profile()
        first = len(tm.requests_log.token_requests())
        tm.clock.advance(7200)  # every token issued so far is now expired at the emulator
        assert (await azure.profile()).name == "blog"
    finally:
        await azure.close()
    assert first >= 1
    assert len(tm.requests_log.token_requests()) > first


async def test_write_access_is_read_from_the_permissions_listing(
    tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contributor may write the endpoints; a reader may not, and a PATCH says so (403)."""
    use_identity(monkeypatch, tm, client_id=tm.reader.client_id, secret=tm.reader.secret)
    reader = AzureTrafficManager(config_for(tm), retry=FAST)
    try:
        access = await reader.write_access()
        assert access.can_write is False
        assert (
            access.detail
            == "missing permission Microsoft.Network/trafficManagerProfiles/externalEndpoints/write"
        )
        west = (await reader.profile()).endpoint("westeurope")
        assert west is not None
        with pytest.raises(TrafficManagerError) as raised:
            await reader.set_status(west, "Disabled")
        assert (raised.value.status, raised.value.retryable) == (403, False)
    finally:
        await reader.close()
    use_identity(monkeypatch, tm, client_id=tm.contributor.client_id, secret=tm.contributor.secret)
    contributor = AzureTrafficManager(config_for(tm), retry=FAST)
    try:
        assert (await contributor.write_access()).can_write is True
    finally:
        await contributor.close()


async def test_retry_after_is_capped_and_backoff_grows() -> None:
    """Retry-After is honoured up to the cap; without it the wait doubles (with jitter)."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    answers: list[Any] = [
        TrafficManagerError("429", retryable=True, retry_after=3600),
        TrafficManagerError("503", retryable=True),
        TrafficManagerError("503", retryable=True),
        "done",
    ]

    async def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    policy = RetryPolicy(attempts=4, base_delay=1.0, max_delay=30.0, retry_after_cap=20.0)
    assert await call_with_retries(call, policy, sleep=sleep) == "done"
    assert waits[0] == 20.0
    assert 1.6 <= waits[1] <= 2.4  # second attempt: 2 × base, ±20 %
    assert 3.2 <= waits[2] <= 4.8


def test_redact_removes_tokens_and_secrets() -> None:
    """Bearer tokens and secret form fields never leave a seam."""
    text = (
        'failed: Authorization: Bearer eyJ0.abc-def client_secret=hunter2&x=1 "access_token": "tok"'
    )
    cleaned = redact(text)
    assert "eyJ0" not in cleaned and "hunter2" not in cleaned and '"tok"' not in cleaned
    assert cleaned.count("[redacted]") == 3
    assert redact(json.dumps({"a": 1}) + "\nsecond line") == '{"a": 1}'


def test_every_endpoint_type_in_use_must_be_writable() -> None:
    """A role that may write external endpoints but not Azure ones cannot act on both."""
    grants = [
        {
            "actions": ["Microsoft.Network/trafficManagerProfiles/externalEndpoints/*"],
            "notActions": [],
        }
    ]
    only_external = evaluate_permissions(grants, {"ExternalEndpoints"})
    both = evaluate_permissions(grants, {"ExternalEndpoints", "AzureEndpoints"})
    assert only_external.can_write is True
    assert both.can_write is False
    assert (
        both.detail
        == "missing permission Microsoft.Network/trafficManagerProfiles/azureEndpoints/write"
    )
    excluded = [{"actions": ["*"], "notActions": ["Microsoft.Network/*/write"]}]
    assert evaluate_permissions(excluded, {"ExternalEndpoints"}).can_write is False


class Watch:
    """Reads folded into Traffic Manager's view, as the engine folds them."""

    def __init__(self, client: AzureTrafficManager) -> None:
        self.client = client
        self.view = TrafficManagerView()

    @property
    def latest(self) -> Reading | None:
        return self.view.latest

    @property
    def profile(self) -> ProfileState | None:
        return self.view.profile

    @property
    def access(self) -> AccessCheck | None:
        return self.view.access

    @property
    def outage(self) -> Outage | None:
        return self.view.outage

    async def read(self) -> Reading:
        reading = await read_profile(self.client, SystemClock())
        self.view = after_read(self.view, reading)
        return reading

    async def check_access(self) -> AccessCheck:
        check = await check_access(self.client, SystemClock())
        self.view = replace(self.view, access=check)
        return check


@pytest.fixture
async def watch(client: AzureTrafficManager) -> Watch:
    """A view whose first read got the real profile."""
    watch = Watch(client)
    assert (await watch.read()).profile is not None
    return watch


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "streamed"])
async def test_an_oversized_answer_is_an_error_read_and_the_last_profile_is_kept(
    watch: Watch, tm: TrafficManagerEmulator, announced: bool
) -> None:
    """An answer past 4 MiB, announced by its Content-Length or streamed on, is an ERROR read
    naming the bound; reading stopped there (the emulator could send no more than the socket
    buffers hold past it) and the profile read before is still the one shown."""
    good = watch.profile
    body: bytes | StreamedBody = (
        b" " * ((4 << 20) + 1) if announced else StreamedBody(size=64 << 20)
    )
    tm.faults.add(method="GET", path_contains=PROFILE_GET, status=200, body=body)
    with structlog.testing.capture_logs() as logs:
        reading = await watch.read()
    assert reading.error is not None
    assert reading.error.startswith("not a Traffic Manager answer: the answer from 127.0.0.1:")
    assert reading.error.endswith(
        "is larger than 4 MiB (it declared 4194305 bytes)" if announced else "is larger than 4 MiB"
    )
    assert (watch.latest, watch.profile) == (reading, good)
    assert [e["event"] for e in logs] == ["traffic_manager_read_failed"]
    if isinstance(body, StreamedBody):
        await eventually(lambda: body.done)
        assert body.sent < 16 << 20
    assert (await watch.read()).profile == good  # the connection was dropped, not poisoned


def _other_profile(tm: TrafficManagerEmulator) -> str:
    return json.dumps({**tm.state.profile_json(tm.profile()), "name": "staging"})


@pytest.mark.parametrize(
    ("body", "content_type", "why"),
    [
        ("<html><body>Sign in</body></html>", "text/html", "not JSON (text/html, 33 bytes)"),
        ('[{"name": "blog"}]', "application/json", "the answer is a list, not an object"),
        ('{"name": "blog", "properties": []}', "application/json", "properties is a list"),
        ("{}", "application/json", "it is an empty object"),
        (_other_profile, "application/json", "it is the profile 'staging'"),
        ("[" * 200_000, "application/json", "JSON nested too deep"),
    ],
    ids=["html", "a-list", "wrong-shape", "empty-object", "another-profile", "nested-deep"],
)
async def test_an_answer_that_is_not_the_profile_is_an_error_read_without_a_traceback(
    watch: Watch,
    tm: TrafficManagerEmulator,
    caplog: pytest.LogCaptureFixture,
    body: Any,
    content_type: str,
    why: str,
) -> None:
    """A 200 that is not the profile `blog` is an ERROR read saying so, logged as one line
    with no traceback, and never replaces the profile read before."""
    good = watch.profile
    text = body(tm) if callable(body) else body
    tm.faults.add(
        method="GET",
        path_contains=PROFILE_GET,
        status=200,
        body=text,
        headers={"Content-Type": content_type},
    )
    with structlog.testing.capture_logs() as logs:
        reading = await watch.read()
    assert reading.error is not None
    assert reading.error.startswith(f"{NOT_THE_PROFILE}: {why}")
    assert (watch.latest, watch.profile) == (reading, good)
    assert [(e["event"], e.get("exc_info")) for e in logs] == [
        ("traffic_manager_read_failed", None)
    ]
    assert "Traceback" not in caplog.text


async def test_the_geographic_hierarchy_is_read_through_the_sdk(
    client: AzureTrafficManager,
) -> None:
    """`trafficManagerGeographicHierarchies/default` read with the real SDK from the emulator
    is the hierarchy the service knows: codes walk up to WORLD and read with their names."""
    hierarchy = await client.geographic_hierarchy()
    assert hierarchy == BUILTIN
    assert hierarchy.lineage("gb") == ["GB", "GEO-EU", "WORLD"]
    assert hierarchy.lineage("US-CA") == ["US-CA", "US", "GEO-NA", "WORLD"]
    assert hierarchy.lineage("XX-UNKNOWN") == ["XX-UNKNOWN", "WORLD"]
    assert hierarchy.describe("GEO-EU") == "GEO-EU (Europe)"
    assert hierarchy.describe("WORLD") == "WORLD (World)"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ('{"properties": {}}', "it has no properties.geographicHierarchy"),
        (
            '{"properties": {"geographicHierarchy": {"code": "GEO-EU", "name": "Europe"}}}',
            "its root is 'GEO-EU', not WORLD",
        ),
        (
            '{"properties": {"geographicHierarchy": {"code": "WORLD", "name": "World",'
            ' "regions": [1]}}}',
            "properties.geographicHierarchy.regions[0] is not an object",
        ),
    ],
    ids=["no-hierarchy", "wrong-root", "not-a-region"],
)
async def test_an_answer_that_is_not_the_hierarchy_is_refused_saying_why(
    client: AzureTrafficManager, tm: TrafficManagerEmulator, body: str, why: str
) -> None:
    """A 200 that is not a geographic hierarchy is an error naming what is wrong, not retried."""
    tm.faults.add(
        method="GET",
        path_contains="trafficManagerGeographicHierarchies",
        status=200,
        body=body,
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(TrafficManagerError) as raised:
        await client.geographic_hierarchy()
    assert str(raised.value) == (
        f"Traffic Manager answered something that is not its geographic hierarchy: {why}"
    )
    assert raised.value.retryable is False


# Deadlines: every call ends by its deadline, per attempt and in all.

PERMISSIONS = "providers/Microsoft.Authorization/permissions"
TOKEN = "/oauth2/v2.0/token"
# Short deadlines, so that each case takes about a second; the defaults are 20 s and 30 s.
PER_ATTEMPT, IN_ALL = 0.6, 1.0
# Room for a loaded machine between the deadline and the moment the caller sees its error.
SLACK = 2.0


def drip() -> StreamedBody:
    """A profile that begins and never goes on: `{`, then a space every 50 ms."""
    return StreamedBody(head=b"{", chunk=b" ", pause=0.05)


@pytest.fixture
async def short(
    tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AzureTrafficManager]:
    """A client with short deadlines, its SDK built and its token fetched by a first read."""
    use_identity(monkeypatch, tm, client_id=tm.contributor.client_id, secret=tm.contributor.secret)
    client = AzureTrafficManager(
        config_for(tm), retry=FAST, attempt_deadline=PER_ATTEMPT, call_deadline=IN_ALL
    )
    await client.profile()
    yield client
    await client.close()


def workers() -> set[threading.Thread]:
    """The client's worker threads alive now."""
    return {t for t in threading.enumerate() if t.name.startswith("regionwatch-azure")}


T = TypeVar("T")


async def timed(call: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    """What `call` returned and how long it took, failing (not hanging) past 10 s more than
    the deadline."""
    started = time.monotonic()
    async with asyncio.timeout(IN_ALL + 10):
        result = await call()
    return result, time.monotonic() - started


async def test_a_dripping_profile_is_an_error_read_by_the_deadline_and_the_thread_stops_reading(
    short: AzureTrafficManager, tm: TrafficManagerEmulator
) -> None:
    """Each attempt's answer drips in a byte at a time: every attempt is cut at its deadline,
    the read ends at the call's with "did not answer within", the last good profile stays,
    and the worker threads stopped reading (the emulator saw each drip end)."""
    watch = Watch(short)
    good = (await watch.read()).profile
    drips = [drip() for _ in range(FAST.attempts)]
    for body in drips:
        tm.faults.add(method="GET", path_contains=PROFILE_GET, status=200, body=body)
    reading, took = await timed(watch.read)
    assert reading == watch.latest
    assert watch.latest is not None
    assert watch.latest.error == "Traffic Manager did not answer within 1 s"
    assert IN_ALL <= took < IN_ALL + SLACK
    assert watch.profile == good and watch.outage is not None
    started = [body for body in drips if body.sent]
    assert len(started) == 2  # 0.6 s, a short wait, then the rest of the second
    await eventually(lambda: all(body.done for body in started), timeout=SLACK)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", PROFILE_GET), ("POST", TOKEN)],
    ids=["profile", "token"],
)
async def test_a_call_never_answered_is_an_error_read_by_the_deadline(
    tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch, method: str, path: str
) -> None:
    """ARM or the token endpoint never answering ends the read at the call's deadline as a
    retryable "did not answer", not an authentication failure; the worker threads end too."""
    use_identity(monkeypatch, tm, client_id=tm.contributor.client_id, secret=tm.contributor.secret)
    azure = AzureTrafficManager(
        config_for(tm), retry=FAST, attempt_deadline=PER_ATTEMPT, call_deadline=IN_ALL
    )
    before = workers()
    hang = tm.faults.add(method=method, path_contains=path, status=None, delay=600, count=None)
    watch = Watch(azure)
    try:
        reading, took = await timed(watch.read)
    finally:
        await azure.close()
    assert watch.latest is not None and reading == watch.latest
    assert watch.latest.error == "Traffic Manager did not answer within 1 s"
    assert IN_ALL <= took < IN_ALL + SLACK
    assert hang.hits >= 1
    await eventually(lambda: not (workers() - before), timeout=SLACK)


async def test_one_slow_attempt_is_retried_within_the_whole_deadline(
    short: AzureTrafficManager, tm: TrafficManagerEmulator
) -> None:
    """The first attempt is cut at its own deadline and the retry, answered at once, reads the
    profile: one stalled connection is not a failed read."""
    tm.faults.add(method="GET", path_contains=PROFILE_GET, status=200, body=drip())
    profile, took = await timed(short.profile)
    assert getattr(profile, "name", None) == "blog"
    assert PER_ATTEMPT <= took < IN_ALL + SLACK


async def test_the_permissions_check_ends_by_its_deadline(
    short: AzureTrafficManager, tm: TrafficManagerEmulator
) -> None:
    """The write-access check, a call like the reads, ends at the deadline with the error."""
    tm.faults.add(method="GET", path_contains=PERMISSIONS, status=None, delay=600, count=None)
    watch = Watch(short)
    check, took = await timed(watch.check_access)
    assert watch.access is not None and check == watch.access
    assert watch.access.error == "Traffic Manager did not answer within 1 s"
    assert took < IN_ALL + SLACK


async def test_a_worker_stuck_where_no_timeout_reaches_is_abandoned_at_the_deadline(
    short: AzureTrafficManager,
) -> None:
    """A worker thread held where no socket timeout applies (here, waiting for the SDK client
    that another thread holds) is left behind at the deadline: the event loop stops waiting."""
    # The lock every call takes to reach the SDK client.
    with short._sdk_lock, pytest.raises(TrafficManagerError) as raised:
        await timed(short.profile)
    assert (str(raised.value), raised.value.retryable) == (
        "Traffic Manager did not answer within 1 s",
        True,
    )


async def test_a_throttling_wait_past_the_deadline_is_not_begun(
    tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 whose Retry-After reaches past the call's deadline ends the call at once with the
    throttling error, rather than sleeping into the deadline."""
    use_identity(monkeypatch, tm, client_id=tm.contributor.client_id, secret=tm.contributor.secret)
    patient = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, retry_after_cap=5)
    azure = AzureTrafficManager(config_for(tm), retry=patient, call_deadline=IN_ALL)
    tm.faults.add(method="GET", path_contains=PROFILE_GET, status=429, headers={"Retry-After": "2"})
    try:
        with pytest.raises(TrafficManagerError) as raised:
            await timed(azure.profile)
    finally:
        await azure.close()
    assert str(raised.value).startswith("Azure answered 429 TooManyRequests")
    assert raised.value.retryable is True


# Error messages: whatever an answer holds, what leaves the client is a few hundred characters.

LONG = 70_000


@pytest.mark.parametrize(
    ("status", "body", "starts"),
    [
        (
            200,
            {"name": "x" * LONG, "type": "Microsoft.Network/trafficManagerProfiles"},
            f"{NOT_THE_PROFILE}: it is the profile '{'x' * 79}…'",
        ),
        (200, {"name": "blog", "type": "y" * LONG}, f"{NOT_THE_PROFILE}: it is a '{'y' * 79}…'"),
        (
            400,
            {"error": {"code": "C" * LONG, "message": "m" * LONG}},
            f"Azure answered 400 {'C' * 79}…: ",
        ),
    ],
    ids=["profile-name", "resource-type", "error-code-and-message"],
)
async def test_names_from_an_answer_are_cut_in_errors_and_no_error_is_long(
    watch: Watch,
    tm: TrafficManagerEmulator,
    status: int,
    body: dict[str, Any],
    starts: str,
) -> None:
    """A 70 KB name, type or error code is quoted by its first 79 characters and an ellipsis,
    and the whole error (read, logged, stored, served) is at most 400 characters."""
    tm.faults.add(method="GET", path_contains=PROFILE_GET, status=status, body=body)
    with structlog.testing.capture_logs() as logs:
        reading = await watch.read()
    assert reading.error is not None
    assert reading.error.startswith(starts)
    assert len(reading.error) <= 400
    assert [len(e["error"]) <= 400 for e in logs] == [True]
