"""The resolver's transports: UDP and TCP on one port, DoT and DoH with the lab CA, UDP size
limits and TCP fallback on both sides, DoH's HTTP errors, and the lifecycle."""

from __future__ import annotations

import re
import ssl
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.rcode
import httpx
import pytest

from lab.resolvers import DEFAULT_TLS_NAME, LabResolver, Transport
from lab.trafficmanager import TrafficManagerEmulator

EUROPE = "81.2.69.0/24"
WEST = "20.1.2.3"
# Long enough that the answer overflows 512 bytes: a 235-byte site name, a 240-byte target.
LONG_SITE = ".".join(["s" * 55, "t" * 55, "u" * 55, "v" * 55, "example.com"])
LONG_TARGET = ".".join(["a" * 55, "b" * 55, "c" * 55, "d" * 50, "cloudapp.azure.com"])


@pytest.mark.parametrize("via", ["tcp", "dot", "doh-get", "doh-post"])
async def test_every_transport_gives_the_udp_answer(
    eu: LabResolver, client: Any, rows: Any, via: str
) -> None:
    """Same records, same TTLs, same echoed subnet; the log names the transport."""
    udp = await client.query(eu, subnet=EUROPE)
    other = await client.query(eu, subnet=EUROPE, via=via)
    assert rows(other) == rows(udp)
    assert other.options == udp.options
    assert eu.log.last().transport is Transport(via[:3])
    assert eu.log.last().client_subnet == EUROPE


async def test_doh_answers_carry_the_media_type_and_a_max_age(eu: LabResolver, client: Any) -> None:
    """RFC 8484 §5.1: cacheable no longer than the smallest TTL (Traffic Manager's 60)."""
    response = await client.doh(eu, client.message())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dns-message"
    assert response.headers["cache-control"] == "max-age=60"
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+/dns-query", eu.doh_url)


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("POST", "/dns-query", {"content-type": "application/json"}, b"{}", 415),
        ("POST", "/dns-query", {"content-type": "application/dns-message"}, b"", 400),
        ("GET", "/dns-query?dns=%%%", {}, b"", 400),
        ("GET", "/dns-query", {}, b"", 400),
        ("GET", "/resolve?name=blog.example.com", {}, b"", 404),
        ("PUT", "/dns-query", {}, b"", 405),
    ],
)
async def test_doh_refuses_what_is_not_a_dns_message(
    eu: LabResolver,
    resolver_trust: ssl.SSLContext,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    base = eu.doh_url.removesuffix("/dns-query")
    async with httpx.AsyncClient(verify=resolver_trust, timeout=2.0) as http:
        response = await http.request(method, base + path, headers=headers, content=body)
    assert response.status_code == status


@pytest.mark.parametrize("server_hostname", [DEFAULT_TLS_NAME, "127.0.0.1"])
async def test_dot_verifies_by_name_or_by_address(
    eu: LabResolver, client: Any, resolver_trust: ssl.SSLContext, server_hostname: str
) -> None:
    response = await dns.asyncquery.tls(
        client.message(),
        eu.address,
        port=eu.dot_port,
        timeout=2.0,
        ssl_context=resolver_trust,
        server_hostname=server_hostname,
    )
    assert response.rcode() == dns.rcode.NOERROR


async def test_dot_rejects_another_name_and_an_untrusting_client(
    eu: LabResolver, client: Any
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        await dns.asyncquery.tls(
            client.message(),
            eu.address,
            port=eu.dot_port,
            timeout=2.0,
            ssl_context=client.trust,
            server_hostname="dns.elsewhere.example",
        )
    with pytest.raises(ssl.SSLCertVerificationError):
        await dns.asyncquery.tls(
            client.message(),
            eu.address,
            port=eu.dot_port,
            timeout=2.0,
            ssl_context=ssl.create_default_context(),  # the system's CAs only
            server_hostname=DEFAULT_TLS_NAME,
        )


async def test_an_oversized_answer_is_truncated_over_udp_and_whole_over_tcp(
    tm: TrafficManagerEmulator, make_resolver: Any, client: Any, rows: Any
) -> None:
    """Beyond 512 bytes (no EDNS) a UDP answer goes out with TC and no records; with a large
    enough EDNS payload, or over TCP, it is whole."""
    tm.seed_lab_profile(targets={"westeurope": LONG_TARGET, "centralus": "52.165.160.200"})
    tm.state.hosts[LONG_TARGET] = WEST
    resolver = make_resolver("eu", EUROPE, hostname=LONG_SITE)
    await resolver.start()
    plain = dns.message.make_query(LONG_SITE, "A")
    truncated = await client.query(resolver, message=plain)
    assert truncated.flags & dns.flags.TC and truncated.answer == []
    assert resolver.log.last().truncated and resolver.log.last().fault is None
    whole = await client.query(resolver, message=dns.message.make_query(LONG_SITE, "A"), via="tcp")
    assert [r[3] for r in rows(whole)][-1] == WEST
    assert len(whole.to_wire()) > 512
    edns = await client.query(resolver, LONG_SITE)  # EDNS, payload 1232
    assert not edns.flags & dns.flags.TC and rows(edns) == rows(whole)


async def test_a_truncated_upstream_answer_is_asked_again_over_tcp(
    make_resolver: Any, truncating_upstream: tuple[str, int], client: Any, rows: Any
) -> None:
    """Traffic Manager's answer arriving truncated over UDP: the resolver asks again over TCP,
    and says so in the log."""
    resolver = make_resolver("eu", EUROPE, upstream=truncating_upstream)
    await resolver.start()
    response = await client.query(resolver)
    assert rows(response)[-1][3] == WEST
    assert resolver.log.last().upstream_transport is Transport.TCP


async def test_without_tls_there_is_no_dot_or_doh(make_resolver: Any, client: Any) -> None:
    resolver = make_resolver("plain", EUROPE, tls=None)
    await resolver.start()
    assert (await client.query(resolver)).rcode() == dns.rcode.NOERROR
    with pytest.raises(RuntimeError, match="no DoT"):
        _ = resolver.dot_port
    with pytest.raises(RuntimeError, match="no DoH"):
        _ = resolver.doh_url


async def test_start_and_stop_are_idempotent(make_resolver: Any, client: Any) -> None:
    resolver = make_resolver("eu", EUROPE)
    with pytest.raises(RuntimeError, match="not started"):
        _ = resolver.port
    await resolver.start()
    port = resolver.port
    await resolver.start()
    assert resolver.port == port
    await resolver.stop()
    await resolver.stop()
    with pytest.raises(dns.exception.Timeout):
        await dns.asyncquery.udp(client.message(), "127.0.0.1", port=port, timeout=0.2)


async def test_stop_ends_hanging_connections(make_resolver: Any, client: Any) -> None:
    """A silent resolver's open DoT and DoH requests end when it stops (no leaked tasks)."""
    resolver = make_resolver("eu", EUROPE)
    await resolver.start()
    resolver.inject("silence")
    for via in ("tcp", "dot", "doh-post"):
        with pytest.raises((dns.exception.Timeout, httpx.TimeoutException)):
            await client.query(resolver, via=via, timeout=0.2)
    await resolver.stop()


def test_a_resolver_listens_and_asks_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="the address must be a loopback IP address"):
        LabResolver("eu", subnet=EUROPE, upstream=("127.0.0.1", 53), address="0.0.0.0")  # noqa: S104
    with pytest.raises(ValueError, match="the upstream must be a loopback IP address"):
        LabResolver("eu", subnet=EUROPE, upstream=("8.8.8.8", 53))
    with pytest.raises(ValueError, match="subnet must be a network"):
        LabResolver("eu", subnet="Europe", upstream=("127.0.0.1", 53))
