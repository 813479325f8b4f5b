"""The regional HTTPS probe against a real loopback origin, one test per behaviour."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.certs import LabCA
from lab.origin import Fault, RegionalOrigin
from monitor.clock import SystemClock
from monitor.config import HttpsRequest
from monitor.evaluate import fold_samples, verdict
from monitor.probes.https import HttpsProbe, HttpsTarget, build_ssl_context
from monitor.results import CheckResult, FailureClass, OnFailure, Outcome, RegionStatus

HOSTNAME = "blog.example.com"


@pytest.fixture
def ca(lab_ca: LabCA) -> LabCA:
    return lab_ca


@pytest.fixture
def client_ssl(lab_ca_file: Path) -> ssl.SSLContext:
    return build_ssl_context(str(lab_ca_file))


@pytest.fixture
async def origin(ca: LabCA) -> AsyncIterator[RegionalOrigin]:
    async with RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=ca) as served:
        yield served


def probe_of(
    origin: RegionalOrigin,
    context: ssl.SSLContext,
    *,
    timeout: float = 2.0,
    max_body: int = 256 * 1024,
    **request: Any,
) -> HttpsProbe:
    request.setdefault("name", "home")
    target = HttpsTarget(
        "westeurope", HOSTNAME, origin.address, origin.https_port, origin.http_port
    )
    return HttpsProbe(
        target,
        HttpsRequest.model_validate(request),
        ssl_context=context,
        timeout=timeout,
        clock=SystemClock(),
        max_body=max_body,
    )


async def run(origin: RegionalOrigin, context: ssl.SSLContext, **request: Any) -> CheckResult:
    return await probe_of(origin, context, **request).probe()


async def test_healthy_region_is_up_with_its_facts(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """A healthy region is UP and the probe records status, cache, release, pod and certificate."""
    origin.deploy("2026.11.27")
    result = await run(origin, client_ssl, expect={"body_contains": "<title>"})
    assert result.outcome is Outcome.UP, result.reason
    assert result.reason == ""
    assert result.facts["status"] == 200
    assert result.facts["cache_status"] == "HIT"
    assert result.facts["release"] == "2026.11.27"
    assert str(result.facts["x_host"]).startswith("westeurope-")
    assert 360 < float(result.facts["cert_days_left"]) <= 366  # type: ignore[arg-type]
    assert result.facts["cert_issuer"]
    assert result.latency_ms is not None and result.latency_ms > 0


async def test_5xx_is_down_and_means_failover(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """A 503 from the region is a content failure with failover meaning."""
    origin.inject(Fault.ERROR, status=503)
    result = await run(origin, client_ssl)
    assert result.outcome is Outcome.DOWN
    assert result.reason == "status 503, expected 200"
    assert result.on_failure is OnFailure.FAILOVER
    assert result.failure_class is FailureClass.CONTENT


async def test_stale_cache_is_down_even_with_200(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """Nginx answering 200 from a stale cache means the origin behind it is failing."""
    origin.inject(Fault.ORIGIN_DOWN)
    result = await run(origin, client_ssl, expect={"status": [200], "fresh_cache": ["STALE"]})
    assert result.facts["status"] == 200
    assert result.outcome is Outcome.DOWN
    assert result.reason == (
        "X-Cache-Status STALE: Nginx is serving a stale copy, the origin behind it is failing"
    )
    assert result.on_failure is OnFailure.FAILOVER


async def test_bypass_request_sees_the_origin_failure_directly(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """With the bypass header, a dead origin shows as Nginx's 502, not as a cached page."""
    origin.inject(Fault.ORIGIN_DOWN)
    result = await run(origin, client_ssl, bypass_cache="header")
    assert result.outcome is Outcome.DOWN
    assert result.reason == "status 502, expected 200"
    assert result.facts["cache_status"] == "BYPASS"


async def test_bypass_modes_reach_past_the_cache(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """`header` sends X-Regionwatch-Bypass; `query` adds a unique parameter (a cache MISS)."""
    header = await run(origin, client_ssl, bypass_cache="header")
    query = await run(origin, client_ssl, bypass_cache="query")
    plain = await run(origin, client_ssl)
    assert (header.facts["cache_status"], query.facts["cache_status"]) == ("BYPASS", "MISS")
    assert plain.facts["cache_status"] == "HIT"


async def test_missing_cache_header_is_never_read_as_fresh_or_stale(
    client_ssl: ssl.SSLContext, ca: LabCA
) -> None:
    """Without X-Cache-Status the probe records that it could not judge the cache."""
    async with RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=ca) as origin:
        origin.inject(Fault.ERROR, status=500)
        result = await run(origin, client_ssl, expect={"status": [500]})
    assert result.outcome is Outcome.UP
    assert result.facts["cache_status"] in ("MISS", None)


async def test_refused_connection_is_a_transport_failure(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """Connection refused is DOWN (transport); healing brings the region back on the same port."""
    origin.inject(Fault.REFUSE)
    result = await run(origin, client_ssl)
    assert (result.outcome, result.reason) == (Outcome.DOWN, "connection refused")
    assert result.failure_class is FailureClass.TRANSPORT
    origin.heal(Fault.REFUSE)
    await origin.settled()
    assert (await run(origin, client_ssl)).outcome is Outcome.UP


async def test_hanging_region_times_out_and_says_where(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """A region that accepts and never answers is DOWN at the timeout, naming the stage."""
    origin.inject(Fault.HANG)
    result = await run(origin, client_ssl, timeout=0.3)
    assert result.outcome is Outcome.DOWN
    assert result.reason == "timed out after 0.3s waiting for the response"
    assert result.failure_class is FailureClass.TRANSPORT
    assert result.duration.total_seconds() < 2


async def test_slow_region_breaks_max_latency(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """An answer slower than max_latency is DOWN with the measured latency."""
    origin.inject(Fault.SLOW, delay=0.4)
    result = await run(origin, client_ssl, expect={"max_latency": "200ms"})
    assert result.outcome is Outcome.DOWN
    assert result.reason.startswith("latency ")
    assert result.reason.endswith("ms, expected at most 200 ms")
    assert result.latency_ms is not None and result.latency_ms >= 400
    assert result.failure_class is FailureClass.TRANSPORT


async def test_reset_mid_response_is_down(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """A connection reset after the headers is DOWN, not ERROR."""
    origin.inject(Fault.RESET)
    result = await run(origin, client_ssl)
    assert result.outcome is Outcome.DOWN
    assert result.reason in (
        "connection reset reading the body",
        "connection closed reading the body (incomplete response)",
    )


async def test_malformed_response_is_down(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """Bytes that are not HTTP are DOWN (content), not our error."""
    origin.inject(Fault.MALFORMED)
    result = await run(origin, client_ssl)
    assert result.outcome is Outcome.DOWN
    assert result.reason.startswith("malformed response")
    assert result.failure_class is FailureClass.CONTENT


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (
            Fault.WRONG_CERT,
            "certificate rejected: Hostname mismatch, certificate is not valid for 'blog.example.com'.",
        ),
        (Fault.EXPIRED_CERT, "certificate rejected: certificate has expired"),
        (Fault.UNTRUSTED_CERT, "certificate rejected: unable to get local issuer certificate"),
    ],
)
async def test_bad_certificate_is_down(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext, fault: Fault, reason: str
) -> None:
    """A wrong-name, expired or untrusted certificate is a content failure with failover meaning."""
    origin.inject(fault)
    result = await run(origin, client_ssl)
    assert result.outcome is Outcome.DOWN
    assert result.reason == reason
    assert result.on_failure is OnFailure.FAILOVER
    assert result.failure_class is FailureClass.CONTENT


async def test_certificate_expiring_soon_degrades_the_region(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """Fewer days left than min_days_left is an alert: the region is degraded, not failing."""
    origin.inject(Fault.EXPIRING_CERT, days=5)
    result = await run(origin, client_ssl)
    assert result.outcome is Outcome.DOWN
    assert result.on_failure is OnFailure.ALERT
    assert result.reason.startswith("certificate expires in 4.9") or result.reason.startswith(
        "certificate expires in 5.0"
    )
    assert result.reason.endswith("days, expected at least 14")
    assert verdict("westeurope", [result], result.started_at).status is RegionStatus.DEGRADED


async def test_missing_hsts_is_an_alert(origin: RegionalOrigin, client_ssl: ssl.SSLContext) -> None:
    """A missing Strict-Transport-Security header alerts; it does not fail the region over."""
    origin.inject(Fault.NO_HSTS)
    result = await run(
        origin, client_ssl, expect={"headers_present": ["Strict-Transport-Security"]}
    )
    assert result.outcome is Outcome.DOWN
    assert result.reason == "header Strict-Transport-Security is missing"
    assert result.on_failure is OnFailure.ALERT


async def test_exposed_admin_path_is_an_alert_by_default(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """/ghost must be 404; when it answers 200 that is an alert even without on_failure."""
    blocked = await run(
        origin, client_ssl, name="admin-blocked", path="/ghost", expect={"status": [404]}
    )
    assert blocked.outcome is Outcome.UP
    origin.inject(Fault.EXPOSE_ADMIN)
    exposed = await run(
        origin, client_ssl, name="admin-blocked", path="/ghost", expect={"status": [404]}
    )
    assert exposed.outcome is Outcome.DOWN
    assert exposed.reason == "status 200, expected 404"
    assert exposed.on_failure is OnFailure.ALERT


async def test_on_failure_setting_overrides_the_default(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """A request's on_failure applies to all its findings, connection failures included."""
    origin.inject(Fault.ERROR, status=500)
    result = await run(origin, client_ssl, on_failure="alert")
    assert result.on_failure is OnFailure.ALERT
    origin.inject(Fault.REFUSE)
    refused = await run(origin, client_ssl, on_failure="alert")
    assert (refused.reason, refused.on_failure) == ("connection refused", OnFailure.ALERT)


async def test_plain_http_redirects_to_https(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """The plain-HTTP listener's 301 to https://hostname passes redirect_to_https."""
    result = await run(
        origin,
        client_ssl,
        name="https-redirect",
        scheme="http",
        expect={"status": [301, 308], "redirect_to_https": True},
    )
    assert result.outcome is Outcome.UP, result.reason
    assert result.facts["status"] == 301
    assert "cert_days_left" not in result.facts


async def test_http_without_redirect_fails_the_redirect_check(client_ssl: ssl.SSLContext) -> None:
    """A plain-HTTP answer that serves the page instead of redirecting fails both expectations."""

    async def serve_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve_page, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target = HttpsTarget("westeurope", HOSTNAME, "127.0.0.1", 1, port)
    request = HttpsRequest(
        name="https-redirect",
        scheme="http",
        expect={"status": [301, 308], "redirect_to_https": True},
    )
    async with server:
        result = await HttpsProbe(
            target, request, ssl_context=client_ssl, timeout=2, clock=SystemClock()
        ).probe()
    assert result.outcome is Outcome.DOWN
    assert result.reason == (
        "status 200, expected 301, 308; redirect goes to no Location header, "
        "expected https://blog.example.com/…"
    )


async def test_body_read_is_bounded(origin: RegionalOrigin, client_ssl: ssl.SSLContext) -> None:
    """The probe reads at most max_body bytes and says so."""
    result = await run(origin, client_ssl, max_body=1024)
    assert result.facts["body_bytes"] == 1024
    assert result.facts["body_truncated"] is True


async def test_every_probe_opens_a_fresh_tls_connection(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """Each attempt does its own handshake, so a certificate switched between two probes is seen."""
    probe = probe_of(origin, client_ssl)
    before = origin.tls_handshakes
    assert (await probe.probe()).outcome is Outcome.UP
    assert (await probe.probe()).outcome is Outcome.UP
    assert origin.tls_handshakes == before + 2
    origin.inject(Fault.WRONG_CERT)
    assert (await probe.probe()).outcome is Outcome.DOWN


async def test_a_pooled_client_would_skip_verification_on_a_kept_alive_connection(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """Why the probe never pools: httpx reuses the connection and never sees the new certificate."""
    url = f"https://{origin.address}:{origin.https_port}/"
    extensions = {"sni_hostname": HOSTNAME}
    async with httpx.AsyncClient(verify=client_ssl) as client:
        first = await client.get(url, headers={"Host": HOSTNAME}, extensions=extensions)
        origin.inject(Fault.WRONG_CERT)
        pooled = await client.get(url, headers={"Host": HOSTNAME}, extensions=extensions)
    assert (first.status_code, pooled.status_code) == (200, 200)
    assert origin.tls_handshakes == 1
    assert (await run(origin, client_ssl)).reason.startswith(
        "certificate rejected: Hostname mismatch"
    )


async def test_one_bad_pod_in_three_does_not_fail_a_three_sample_round(
    origin: RegionalOrigin, client_ssl: ssl.SSLContext
) -> None:
    """With samples, one failing answer in three is outvoted; all three failing is not."""
    origin.inject(Fault.ERROR, status=502, every=3)
    probe = probe_of(origin, client_ssl)
    samples = [await probe.probe() for _ in range(3)]
    assert [s.outcome for s in samples].count(Outcome.DOWN) == 1
    assert fold_samples(samples).outcome is Outcome.UP
    origin.inject(Fault.ERROR, status=502)
    samples = [await probe.probe() for _ in range(3)]
    assert fold_samples(samples).outcome is Outcome.DOWN


async def test_a_bug_on_our_side_is_error_never_down(origin: RegionalOrigin) -> None:
    """An exception inside the probe is ERROR: our bug can never take a region out."""
    broken: Any = object()  # not an SSLContext: start_tls raises TypeError
    target = HttpsTarget("westeurope", HOSTNAME, origin.address, origin.https_port)
    result = await HttpsProbe(
        target, HttpsRequest(name="home"), ssl_context=broken, timeout=2, clock=SystemClock()
    ).probe()
    assert result.outcome is Outcome.ERROR
    assert result.reason.startswith("internal error: ")


def test_build_ssl_context_verifies_hostnames(tmp_path: Path, ca: LabCA) -> None:
    """The probe's context requires a certificate valid for the hostname and trusts ca_file."""
    context = build_ssl_context(str(ca.write_ca_pem(tmp_path / "ca.pem")))
    assert context.check_hostname is True
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2


async def test_a_close_before_any_answer_is_a_transport_failure(client_ssl: ssl.SSLContext) -> None:
    """A peer that hangs up without a byte of answer is DOWN on the path, not 'malformed'."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = HttpsRequest(name="redirect", scheme="http", expect={"status": [301]})
    async with server:
        result = await HttpsProbe(
            HttpsTarget("westeurope", HOSTNAME, "127.0.0.1", 1, port),
            request,
            ssl_context=client_ssl,
            timeout=2,
            clock=SystemClock(),
        ).probe()
    assert (result.outcome, result.failure_class) == (Outcome.DOWN, FailureClass.TRANSPORT)
    assert result.reason == "connection reset waiting for the response"


async def test_our_resolver_failing_is_error_not_down(
    client_ssl: ssl.SSLContext, loopback_only: list[str]
) -> None:
    """A region address that our resolver cannot look up is ERROR: we could not judge."""
    target = HttpsTarget("westeurope", HOSTNAME, "lb.westeurope.invalid", 443)
    result = await HttpsProbe(
        target, HttpsRequest(name="home"), ssl_context=client_ssl, timeout=2, clock=SystemClock()
    ).probe()
    loopback_only.clear()  # the guard refused the lookup, which is the point
    assert result.outcome is Outcome.ERROR
    assert result.reason.startswith("cannot resolve lb.westeurope.invalid")
