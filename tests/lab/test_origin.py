"""The lab's regional origin over real loopback TLS: Nginx-in-front-of-Ghost, then each fault.

Helpers live here rather than in a shared module: the suite imports with --import-mode=importlib
and only tests/ itself is on sys.path.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import h11
import httpx
import pytest

from lab.certs import LabCA
from lab.nginx import HSTS
from lab.origin import Fault, RegionalOrigin, loopback_address

HOSTNAME = "blog.example.com"


@pytest.fixture
async def origin(lab_ca: LabCA) -> AsyncIterator[RegionalOrigin]:
    async with RegionalOrigin(
        region="westeurope", hostname=HOSTNAME, ca=lab_ca, address=loopback_address(0)
    ) as started:
        yield started


@pytest.fixture
async def client(origin: RegionalOrigin, lab_ca: LabCA) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client for the origin: its address and port, the site's name as SNI."""
    async with httpx.AsyncClient(
        base_url=f"https://{origin.address}:{origin.https_port}",
        verify=lab_ca.client_context(),
        timeout=5.0,
    ) as http:
        yield http


async def get(
    client: httpx.AsyncClient, path: str, *, method: str = "GET", **headers: str
) -> httpx.Response:
    """A request through `client`, sending the site's name as SNI (header names use `_`)."""
    return await client.request(
        method,
        path,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
        extensions={"sni_hostname": HOSTNAME},
    )


async def open_tls(
    origin: RegionalOrigin, ca: LabCA
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(
        origin.address, origin.https_port, ssl=ca.client_context(), server_hostname=HOSTNAME
    )


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    # The server may already have reset or closed the connection.
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


async def eventually(condition: Callable[[], bool], *, timeout: float = 2.0) -> None:
    """Poll `condition` until it holds; fail at the deadline. For counters the server bumps
    after the client's side of an exchange has already finished (a TLS 1.3 handshake)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def roundtrip(
    conn: h11.Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    target: str,
    *,
    method: str = "GET",
    close_after: bool = False,
) -> tuple[h11.Response, bytes]:
    """One request over a raw connection, parsed with h11; the body is read to its end."""
    headers = [("Host", HOSTNAME)] + ([("Connection", "close")] if close_after else [])
    writer.write(conn.send(h11.Request(method=method, target=target, headers=headers)))
    writer.write(conn.send(h11.EndOfMessage()))
    response: h11.Response | None = None
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert response is not None
            return response, body


async def test_home_page_is_a_cache_hit_with_the_sites_headers(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """A plain GET of / is the cached blog page with every header the model's Nginx adds."""
    response = await get(client, "/")
    assert response.status_code == 200
    assert response.reason_phrase == "OK"
    assert "<title>Lab Blog · westeurope</title>" in response.text
    assert len(response.content) > 2000
    headers = response.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-length"] == str(len(response.content))
    assert headers["x-cache-status"] == "HIT"
    assert re.fullmatch(r"westeurope-nginx-[0-9a-f]{5}", headers["x-host"])
    assert headers["x-release"] == "1.0.0"
    assert headers["strict-transport-security"] == HSTS
    assert headers["server"] == "nginx"
    assert origin.requests_served == 1


async def test_x_host_is_stable_for_a_region(lab_ca: LabCA, client: httpx.AsyncClient) -> None:
    """Two origins of the same region name the same pod; the header identifies the region."""
    first = (await get(client, "/")).headers["x-host"]
    async with (
        RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=lab_ca) as other,
        httpx.AsyncClient(verify=lab_ca.client_context()) as http,
    ):
        second = await http.get(
            f"https://{other.address}:{other.https_port}/", extensions={"sni_hostname": HOSTNAME}
        )
    assert second.headers["x-host"] == first


async def test_bypass_header_skips_the_cache(client: httpx.AsyncClient) -> None:
    """`X-Regionwatch-Bypass: 1` is the site's proxy_cache_bypass: the answer says BYPASS."""
    response = await get(client, "/", X_Regionwatch_Bypass="1")
    assert response.status_code == 200
    assert response.headers["x-cache-status"] == "BYPASS"


async def test_query_string_misses_the_cache(client: httpx.AsyncClient) -> None:
    """Nginx's cache key includes the arguments, so a unique query is a MISS."""
    response = await get(client, "/?rw=12345")
    assert response.status_code == 200
    assert response.headers["x-cache-status"] == "MISS"


async def test_head_has_the_get_headers_and_no_body(client: httpx.AsyncClient) -> None:
    """HEAD announces the GET body's length but sends no body, and the connection stays usable."""
    head = await get(client, "/", method="HEAD")
    assert head.status_code == 200
    assert head.content == b""
    full = await get(client, "/")
    assert head.headers["content-length"] == str(len(full.content))


@pytest.mark.parametrize(
    "path", ["/ghost", "/ghost/", "/ghost/editor/post/1", "//ghost", "/%67host", "/x/../ghost"]
)
async def test_admin_path_is_nginx_404(origin: RegionalOrigin, lab_ca: LabCA, path: str) -> None:
    """`location /ghost { return 404; }` answers from Nginx itself, however the path is spelled."""
    # A raw client: httpx would normalise `//ghost` and `/x/../ghost` before sending them.
    reader, writer = await open_tls(origin, lab_ca)
    try:
        response, body = await roundtrip(h11.Connection(h11.CLIENT), reader, writer, path)
    finally:
        await close(writer)
    headers = dict(response.headers)
    assert response.status_code == 404
    assert response.reason == b"Not Found"
    assert b"<title>404 Not Found</title>" in body
    assert b"<center>nginx</center>" in body
    assert b"x-cache-status" not in headers  # $upstream_cache_status is empty
    assert headers[b"x-host"].startswith(b"westeurope-nginx-")
    assert headers[b"strict-transport-security"] == HSTS.encode()


async def test_plain_http_redirects_to_https_with_path_and_query(origin: RegionalOrigin) -> None:
    """The port-80 server block answers every request with a 301 to the HTTPS site."""
    async with httpx.AsyncClient(base_url=f"http://{origin.address}:{origin.http_port}") as http:
        for method in ("GET", "HEAD"):
            response = await http.request(method, "/post-1/?utm=x")
            assert response.status_code == 301
            assert response.headers["location"] == f"https://{HOSTNAME}/post-1/?utm=x"
            assert response.headers["server"] == "nginx"
    assert origin.tls_handshakes == 0


async def test_deploy_changes_the_release_header(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """A deploy is visible on the next response, on every path."""
    origin.deploy("1.1.0")
    assert origin.release == "1.1.0"
    assert (await get(client, "/")).headers["x-release"] == "1.1.0"
    assert (await get(client, "/ghost")).headers["x-release"] == "1.1.0"
    with pytest.raises(ValueError, match="release must be non-empty printable ASCII"):
        origin.deploy("1.2\r\nX-Evil: 1")


async def test_keep_alive_serves_several_requests_on_one_connection(
    origin: RegionalOrigin, lab_ca: LabCA
) -> None:
    """Requests share one TLS connection until the client asks to close; then the server closes."""
    reader, writer = await open_tls(origin, lab_ca)
    conn = h11.Connection(h11.CLIENT)
    try:
        for target in ("/", "/ghost", "/post-2/"):
            response, body = await roundtrip(conn, reader, writer, target)
            assert response.status_code in (200, 404)
            assert int(dict(response.headers)[b"content-length"]) == len(body)
            conn.start_next_cycle()
        response, _ = await roundtrip(conn, reader, writer, "/", close_after=True)
        assert response.status_code == 200
        async with asyncio.timeout(2):
            assert await reader.read() == b""  # the server closed after `Connection: close`
    finally:
        await close(writer)
    assert origin.tls_handshakes == 1
    assert origin.requests_served == 4


async def test_tls_handshakes_count_connections_not_requests(
    origin: RegionalOrigin, lab_ca: LabCA
) -> None:
    """Keep-alive reuse adds no handshake; every new client connection adds one."""
    async with httpx.AsyncClient(verify=lab_ca.client_context()) as http:
        for _ in range(3):
            await http.get(
                f"https://{origin.address}:{origin.https_port}/",
                extensions={"sni_hostname": HOSTNAME},
            )
    assert origin.tls_handshakes == 1
    _, writer = await open_tls(origin, lab_ca)
    await close(writer)
    await eventually(lambda: origin.tls_handshakes == 2)
    assert origin.requests_served == 3


async def test_malformed_request_gets_400_and_close(origin: RegionalOrigin, lab_ca: LabCA) -> None:
    """Bytes that are not HTTP get Nginx's 400 page, then the connection is closed."""
    reader, writer = await open_tls(origin, lab_ca)
    try:
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        async with asyncio.timeout(2):
            answer = await reader.read()
    finally:
        await close(writer)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"<title>400 Bad Request</title>" in answer


async def test_clients_leaving_at_any_moment_do_not_disturb_the_origin(
    origin: RegionalOrigin, lab_ca: LabCA, client: httpx.AsyncClient
) -> None:
    """Disconnects during the handshake, mid-request and before reading the answer are harmless."""
    # TCP only, gone before the handshake.
    _, writer = await asyncio.open_connection(origin.address, origin.https_port)
    await close(writer)
    # Half a request.
    _, writer = await open_tls(origin, lab_ca)
    writer.write(b"GET / HTTP/1.1\r\nHost: bl")
    await close(writer)
    # A whole request, the answer never read.
    _, writer = await open_tls(origin, lab_ca)
    writer.write(b"GET / HTTP/1.1\r\nHost: blog.example.com\r\n\r\n")
    await writer.drain()
    writer.transport.abort()
    assert (await get(client, "/")).status_code == 200


async def test_stop_is_idempotent_and_frees_the_ports(lab_ca: LabCA) -> None:
    """After stop() nothing listens any more, and a second stop() is a no-op."""
    origin = RegionalOrigin(region="centralus", hostname=HOSTNAME, ca=lab_ca)
    await origin.start()
    await origin.stop()
    await origin.stop()
    for port in (origin.https_port, origin.http_port):
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(origin.address, port)


def test_loopback_address_gives_each_region_its_own_address_where_possible() -> None:
    """Linux binds all of 127.0.0.0/8; elsewhere every region shares 127.0.0.1."""
    first, second = loopback_address(0), loopback_address(1)
    assert first in ("127.0.0.2", "127.0.0.1")
    assert (first, second) == ("127.0.0.2", "127.0.0.3") or first == second == "127.0.0.1"
    with pytest.raises(ValueError, match=r"loopback index must be in 0\.\.252, got 253"):
        loopback_address(253)


# Faults


async def test_error_fault_answers_its_status_everywhere_but_the_admin_path(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """A broken deploy: 503 (or the given status) with Nginx's page; /ghost is still Nginx's 404."""
    origin.inject(Fault.ERROR)
    response = await get(client, "/")
    assert (response.status_code, response.reason_phrase) == (
        503,
        "Service Temporarily Unavailable",
    )
    assert response.headers["x-cache-status"] == "MISS"
    assert "<title>503 Service Temporarily Unavailable</title>" in response.text
    assert (await get(client, "/ghost")).status_code == 404
    origin.inject(Fault.ERROR, status=500)
    assert (await get(client, "/post-1/")).status_code == 500
    origin.heal(Fault.ERROR)
    assert (await get(client, "/")).status_code == 200


async def test_origin_down_serves_stale_pages_but_fails_requests_that_skip_the_cache(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """Ghost down: cached pages are STALE 200s; a bypass or a cache miss has no copy, so 502."""
    origin.inject(Fault.ORIGIN_DOWN)
    cached = await get(client, "/")
    assert (cached.status_code, cached.headers["x-cache-status"]) == (200, "STALE")
    assert "<title>Lab Blog · westeurope</title>" in cached.text
    bypass = await get(client, "/", X_Regionwatch_Bypass="1")
    assert (bypass.status_code, bypass.reason_phrase) == (502, "Bad Gateway")
    assert bypass.headers["x-cache-status"] == "BYPASS"
    assert "<title>502 Bad Gateway</title>" in bypass.text
    missed = await get(client, "/?rw=1")
    assert (missed.status_code, missed.headers["x-cache-status"]) == (502, "MISS")


async def test_refused_connections_and_healing_on_the_same_port(
    origin: RegionalOrigin, lab_ca: LabCA, client: httpx.AsyncClient
) -> None:
    """REFUSE closes the HTTPS listener before inject() returns; heal re-opens the same port."""
    port = origin.https_port
    origin.inject(Fault.REFUSE)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(origin.address, port)
    async with httpx.AsyncClient(base_url=f"http://{origin.address}:{origin.http_port}") as http:
        assert (await http.get("/")).status_code == 301  # the redirect server is not affected
    origin.heal(Fault.REFUSE)
    await origin.settled()
    assert origin.https_port == port
    reader, writer = await open_tls(origin, lab_ca)
    try:
        response, _ = await roundtrip(h11.Connection(h11.CLIENT), reader, writer, "/")
    finally:
        await close(writer)
    assert response.status_code == 200


async def test_refuse_injected_before_start_keeps_https_closed(lab_ca: LabCA) -> None:
    """An origin started already refusing still gets (and keeps) a port for when it heals."""
    origin = RegionalOrigin(region="centralus", hostname=HOSTNAME, ca=lab_ca)
    origin.inject(Fault.REFUSE)
    async with origin:
        assert origin.https_port != 0
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(origin.address, origin.https_port)
        origin.heal()
        await origin.settled()
        _, writer = await open_tls(origin, lab_ca)
        await close(writer)


async def test_hang_completes_tls_and_never_answers(origin: RegionalOrigin, lab_ca: LabCA) -> None:
    """The request arrives, the handshake completed, and the client can only give up."""
    origin.inject(Fault.HANG)
    reader, writer = await open_tls(origin, lab_ca)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: blog.example.com\r\n\r\n")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await reader.read(1)
    finally:
        await close(writer)
    assert origin.requests_served == 1
    assert origin.tls_handshakes == 1


async def test_stop_closes_hung_connections(lab_ca: LabCA) -> None:
    """stop() does not wait for hung clients: it closes their connections and returns."""
    origin = RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=lab_ca)
    await origin.start()
    origin.inject(Fault.HANG)
    reader, writer = await open_tls(origin, lab_ca)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: blog.example.com\r\n\r\n")
        await eventually(lambda: origin.requests_served == 1)
        async with asyncio.timeout(1):
            await origin.stop()
            # A close with unread data is a reset; either way the server has gone.
            with contextlib.suppress(ConnectionResetError):
                assert await reader.read() == b""
    finally:
        await close(writer)


async def test_slow_sends_the_response_after_the_delay(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """SLOW delays the whole response by `delay` seconds; the answer itself is normal."""
    origin.inject(Fault.SLOW, delay=0.3)
    started = time.monotonic()
    response = await get(client, "/")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert 0.3 <= elapsed < 1.5


async def test_reset_cuts_the_response_with_a_tcp_reset(
    origin: RegionalOrigin, lab_ca: LabCA
) -> None:
    """Status line, headers and part of the body arrive, then ECONNRESET: never the whole body."""
    origin.inject(Fault.RESET)
    reader, writer = await open_tls(origin, lab_ca)
    received = b""
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: blog.example.com\r\n\r\n")
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            async with asyncio.timeout(2):
                while chunk := await reader.read(65536):
                    received += chunk
                raise asyncio.IncompleteReadError(received, None)  # EOF instead of a reset
    finally:
        await close(writer)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
    assert 0 < len(body) < length


async def test_reset_through_httpx_is_an_error_not_a_response(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """What a probe built on httpx sees: a read error or an incomplete body."""
    origin.inject(Fault.RESET)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await get(client, "/")


async def test_malformed_answers_bytes_that_are_not_http(
    origin: RegionalOrigin, lab_ca: LabCA, client: httpx.AsyncClient
) -> None:
    """MALFORMED sends garbage and closes; an HTTP client reports a protocol error."""
    origin.inject(Fault.MALFORMED)
    reader, writer = await open_tls(origin, lab_ca)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: blog.example.com\r\n\r\n")
        async with asyncio.timeout(2):
            assert await reader.read() == b"garbage\r\n\r\n"
    finally:
        await close(writer)
    with pytest.raises(httpx.RemoteProtocolError):
        await get(client, "/")


async def test_every_three_faults_exactly_one_request_in_three(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """`every=3` is one bad pod out of three: the 3rd, 6th, 9th requests fail, no others."""
    origin.inject(Fault.ERROR, status=502, every=3)
    statuses = [(await get(client, "/")).status_code for _ in range(9)]
    assert statuses == [200, 200, 502] * 3
    # Requests the fault never touches (Nginx's own /ghost) do not move its counter.
    origin.heal(Fault.ERROR)
    origin.inject(Fault.ORIGIN_DOWN, every=2)
    caches = [
        (await get(client, path)).headers.get("x-cache-status")
        for path in ("/", "/ghost", "/", "/", "/")
    ]
    assert caches == ["HIT", None, "STALE", "HIT", "STALE"]


async def test_expose_admin_serves_the_editor(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """A deploy that lost `location /ghost` exposes Ghost's editor with a 200."""
    origin.inject(Fault.EXPOSE_ADMIN)
    response = await get(client, "/ghost/")
    assert response.status_code == 200
    assert "<title>Ghost Admin</title>" in response.text
    assert 'id="editor"' in response.text


async def test_no_hsts_drops_the_header(origin: RegionalOrigin, client: httpx.AsyncClient) -> None:
    """NO_HSTS removes Strict-Transport-Security from every answer, and only that."""
    origin.inject(Fault.NO_HSTS)
    for path in ("/", "/ghost"):
        response = await get(client, path)
        assert "strict-transport-security" not in response.headers
        assert response.headers["x-release"] == "1.0.0"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.WRONG_CERT, "Hostname mismatch, certificate is not valid for 'blog.example.com'."),
        (Fault.EXPIRED_CERT, "certificate has expired"),
        (Fault.UNTRUSTED_CERT, "unable to get local issuer certificate"),
    ],
)
async def test_certificate_faults_fail_verification(
    origin: RegionalOrigin, lab_ca: LabCA, fault: Fault, message: str
) -> None:
    """Each bad certificate fails the handshake with its own verification error; heal fixes it."""
    origin.inject(fault)
    with pytest.raises(ssl.SSLCertVerificationError) as failure:
        await open_tls(origin, lab_ca)
    assert failure.value.verify_message == message
    origin.heal(fault)
    _, writer = await open_tls(origin, lab_ca)
    await close(writer)


async def _not_after(origin: RegionalOrigin, lab_ca: LabCA) -> datetime:
    _, writer = await open_tls(origin, lab_ca)
    try:
        cert = writer.get_extra_info("peercert")
    finally:
        await close(writer)
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)


@pytest.mark.parametrize(("params", "days"), [({}, 5), ({"days": 12}, 12)])
async def test_expiring_certificate_is_valid_but_expires_soon(
    origin: RegionalOrigin, lab_ca: LabCA, params: dict[str, int], days: int
) -> None:
    """EXPIRING_CERT verifies today and expires in `days` days (default 5)."""
    origin.inject(Fault.EXPIRING_CERT, **params)
    left = (await _not_after(origin, lab_ca) - datetime.now(UTC)).total_seconds() / 86400
    assert days - 1 < left <= days


async def test_the_last_injected_certificate_fault_wins(
    origin: RegionalOrigin, lab_ca: LabCA
) -> None:
    """With several certificate faults active the newest one is served; healing it uncovers
    the previous one, healing all restores the good certificate."""
    origin.inject(Fault.EXPIRING_CERT, days=3)
    origin.inject(Fault.WRONG_CERT)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        await open_tls(origin, lab_ca)
    origin.heal(Fault.WRONG_CERT)
    left = (await _not_after(origin, lab_ca) - datetime.now(UTC)).days
    assert left in (2, 3)
    origin.heal()
    assert (await _not_after(origin, lab_ca) - datetime.now(UTC)).days > 300


async def test_a_certificate_fault_spares_kept_alive_connections(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """The certificate is chosen at the handshake: a pooled connection keeps the old one."""
    assert (await get(client, "/")).status_code == 200
    origin.inject(Fault.WRONG_CERT)
    assert (await get(client, "/")).status_code == 200
    assert origin.tls_handshakes == 1


async def test_faults_lists_active_faults_with_their_parameters(origin: RegionalOrigin) -> None:
    """faults() reports what is active, in injection order, defaults filled in; heal() clears."""
    origin.inject(Fault.SLOW, delay="0.5")
    origin.inject("error", every=2)
    origin.inject(Fault.EXPOSE_ADMIN)
    assert origin.faults() == {
        "slow": {"delay": 0.5, "every": 1},
        "error": {"status": 503, "every": 2},
        "expose-admin": {},
    }
    origin.heal("slow")
    assert list(origin.faults()) == ["error", "expose-admin"]
    origin.heal()
    assert origin.faults() == {}


@pytest.mark.parametrize(
    ("fault", "params", "message"),
    [
        (
            "flood",
            {},
            "unknown fault 'flood'; known faults: error, origin-down, refuse, hang, slow, reset, "
            "wrong-cert, expired-cert, untrusted-cert, expiring-cert, expose-admin, no-hsts, "
            "malformed",
        ),
        (
            "slow",
            {"dealy": 1},
            "fault 'slow' has no parameter 'dealy'; it takes: count, delay, every",
        ),
        (
            "refuse",
            {"every": 2},
            "fault 'refuse' has no parameter 'every'; it takes: no parameters",
        ),
        (
            "slow",
            {"delay": "soon"},
            "fault 'slow': delay must be a number of seconds >= 0, got 'soon'",
        ),
        ("error", {"status": 200}, "fault 'error': status must be an HTTP status 400-599, got 200"),
        ("hang", {"every": 0}, "fault 'hang': every must be an integer >= 1, got 0"),
        ("reset", {"every": 1.5}, "fault 'reset': every must be an integer >= 1, got 1.5"),
        (
            "expiring-cert",
            {"days": 0},
            "fault 'expiring-cert': days must be an integer >= 1, got 0",
        ),
    ],
)
def test_inject_rejects_unknown_faults_and_bad_parameters(
    lab_ca: LabCA, fault: str, params: dict[str, float | int | str], message: str
) -> None:
    """Bad input from the fault panel fails with a message naming the fault and parameter."""
    origin = RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=lab_ca)
    with pytest.raises(ValueError) as failure:
        origin.inject(fault, **params)
    assert str(failure.value) == message
    assert origin.faults() == {}
    with pytest.raises(ValueError, match="unknown fault 'flood'"):
        origin.heal("flood")


async def test_a_client_leaving_during_a_slow_answer_is_harmless(
    origin: RegionalOrigin, lab_ca: LabCA
) -> None:
    """The delayed answer is written to a closed connection without noise or leaks."""
    origin.inject(Fault.SLOW, delay=0.1)
    reader, writer = await open_tls(origin, lab_ca)
    writer.write(b"GET / HTTP/1.1\r\nHost: blog.example.com\r\n\r\n")
    await writer.drain()
    await eventually(lambda: origin.requests_served == 1)
    writer.transport.abort()
    await asyncio.sleep(0.2)  # the point is what happens when the delay ends: let it end
    origin.heal()
    reader, writer = await open_tls(origin, lab_ca)
    try:
        response, _ = await roundtrip(h11.Connection(h11.CLIENT), reader, writer, "/")
    finally:
        await close(writer)
    assert response.status_code == 200


async def test_error_with_count_hits_the_next_answers_then_heals_itself(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """`count=2`: the next two answers are 500, the third is whole and the fault is gone."""
    origin.inject("error", status=500, count=2)
    assert origin.faults() == {"error": {"status": 500, "every": 1, "count": 2}}
    statuses = [(await get(client, "/")).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert origin.faults() == {}


async def test_every_and_count_combine_on_an_origin(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """`every=2, count=2`: the 2nd and 4th answers are hit, nothing after."""
    origin.inject(Fault.ORIGIN_DOWN, every=2, count=2)
    statuses = [(await get(client, "/?q")).status_code for _ in range(6)]
    assert statuses == [200, 502, 200, 502, 200, 200]


async def test_reset_with_count_resets_one_answer_only(
    origin: RegionalOrigin, client: httpx.AsyncClient
) -> None:
    """A wire fault takes the same schedule: `count=1` resets one answer, the next is whole."""
    origin.inject(Fault.RESET, count=1)
    with pytest.raises(httpx.TransportError):
        await get(client, "/")
    assert (await get(client, "/")).status_code == 200
