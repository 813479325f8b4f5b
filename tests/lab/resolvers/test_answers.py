"""What a lab resolver answers for the site's name, through the emulated Traffic Manager: the
CNAME chain and its TTLs, routing by the forwarded or the resolver's own subnet, failover,
NODATA and NXDOMAIN, and what the request log records."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from lab.resolvers import LabResolver, Transport
from lab.trafficmanager import TrafficManagerEmulator

EUROPE, AMERICA = "81.2.69.0/24", "8.8.8.0/24"
WEST, CENTRAL = "20.1.2.3", "52.165.160.200"
SITE, TM_NAME = "blog.example.com.", "blog-tm.trafficmanager.net."


def ecs(response: dns.message.Message) -> list[tuple[str, int, int]]:
    return [
        (o.address, o.srclen, o.scopelen)
        for o in response.options
        if isinstance(o, dns.edns.ECSOption)
    ]


async def test_eu_answers_the_cname_chain_to_westeurope(
    eu: LabResolver, client: Any, rows: Any
) -> None:
    """The site's CNAME (TTL 300), then Traffic Manager's A with the profile's TTL (60)."""
    response = await client.query(eu)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.RA and not response.flags & dns.flags.AA
    assert rows(response) == [(SITE, "CNAME", 300, TM_NAME), (TM_NAME, "A", 60, WEST)]


async def test_us_answers_centralus(us: LabResolver, client: Any, rows: Any) -> None:
    response = await client.query(us)
    assert rows(response) == [(SITE, "CNAME", 300, TM_NAME), (TM_NAME, "A", 60, CENTRAL)]


async def test_the_profile_ttl_passes_through(
    tm: TrafficManagerEmulator, eu: LabResolver, client: Any, rows: Any
) -> None:
    tm.seed_lab_profile(ttl=30)
    assert [row[2] for row in rows(await client.query(eu))] == [300, 30]


async def test_a_forwarded_subnet_wins_and_is_echoed_with_the_scope(
    us: LabResolver, client: Any, rows: Any
) -> None:
    """A European client through the US resolver gets westeurope; the answer repeats its
    subnet with Traffic Manager's nonzero scope."""
    response = await client.query(us, subnet=EUROPE)
    assert rows(response)[-1][3] == WEST
    assert ecs(response) == [("81.2.69.0", 24, 24)]


async def test_the_log_shows_the_client_subnet_and_what_went_upstream(
    us: LabResolver, client: Any
) -> None:
    await client.query(us, subnet=EUROPE)
    await client.query(us, "blog.example.com", "AAAA", via="tcp")
    forwarded, own = list(us.log)
    assert (forwarded.transport, forwarded.qname, forwarded.qtype) == (
        Transport.UDP,
        "blog.example.com",
        "A",
    )
    assert (forwarded.client_subnet, forwarded.upstream_subnet) == (EUROPE, EUROPE)
    assert (forwarded.upstream_transport, forwarded.rcode) == (Transport.UDP, "NOERROR")
    assert (own.transport, own.qtype, own.client_subnet, own.upstream_subnet) == (
        Transport.TCP,
        "AAAA",
        None,
        AMERICA,
    )


async def test_without_a_client_subnet_no_option_comes_back(eu: LabResolver, client: Any) -> None:
    assert ecs(await client.query(eu)) == []


async def test_a_client_opting_out_is_placed_by_the_resolver_with_scope_zero(
    eu: LabResolver, client: Any, rows: Any
) -> None:
    """Source prefix 0 (RFC 7871 §7.1.2): the resolver's own subnet goes upstream; scope 0."""
    response = await client.query(eu, subnet="0.0.0.0/0")
    assert rows(response)[-1][3] == WEST
    assert ecs(response) == [("0.0.0.0", 0, 0)]  # noqa: S104 - an ECS address, not a bind
    assert eu.log.last().upstream_subnet == EUROPE


async def test_disabling_westeurope_moves_europe_to_centralus(
    tm: TrafficManagerEmulator, eu: LabResolver, client: Any, rows: Any
) -> None:
    tm.set_endpoint_status("westeurope", "Disabled")
    assert rows(await client.query(eu))[-1][3] == CENTRAL
    tm.set_endpoint_status("westeurope", "Enabled")
    assert rows(await client.query(eu))[-1][3] == WEST


async def test_an_uncovered_geography_is_nodata_with_the_chain_and_soa(
    tm: TrafficManagerEmulator, eu: LabResolver, client: Any, rows: Any
) -> None:
    """With WORLD disabled, America is covered by nothing: NOERROR, the site's CNAME, and
    Traffic Manager's SOA, as a recursive resolver ends a chain at a NODATA."""
    tm.set_endpoint_status("centralus", "Disabled")
    response = await client.query(eu, subnet=AMERICA)
    assert response.rcode() == dns.rcode.NOERROR
    assert rows(response) == [(SITE, "CNAME", 300, TM_NAME)]
    assert [(r.name.to_text(), r.rdtype) for r in response.authority] == [
        ("trafficmanager.net.", dns.rdatatype.SOA)
    ]


async def test_aaaa_for_an_ipv4_endpoint_is_nodata(eu: LabResolver, client: Any, rows: Any) -> None:
    response = await client.query(eu, rdtype="AAAA")
    assert (response.rcode(), [r[1] for r in rows(response)]) == (dns.rcode.NOERROR, ["CNAME"])


async def test_a_disabled_profile_is_nxdomain(
    tm: TrafficManagerEmulator, eu: LabResolver, client: Any, rows: Any
) -> None:
    """Traffic Manager's NXDOMAIN (profile disabled) comes back as NXDOMAIN after the CNAME."""
    tm.state.patch_profile(
        tm.subscription_id, "blog", "blog", {"properties": {"profileStatus": "Disabled"}}
    )
    response = await client.query(eu)
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert [r[1] for r in rows(response)] == ["CNAME"]
    assert [r.rdtype for r in response.authority] == [dns.rdatatype.SOA]


@pytest.mark.parametrize("name", ["www.example.com", "blog-tm.trafficmanager.net", "example.com"])
async def test_other_names_are_nxdomain_with_the_zone_soa(
    eu: LabResolver, client: Any, name: str
) -> None:
    response = await client.query(eu, name)
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert [(r.name.to_text(), r.rdtype) for r in response.authority] == [
        ("example.com.", dns.rdatatype.SOA)
    ]
    assert eu.log.last().upstream_subnet is None  # nothing asked upstream


async def test_the_name_matches_whatever_its_case(eu: LabResolver, client: Any, rows: Any) -> None:
    response = await client.query(eu, "BLOG.Example.COM")
    assert rows(response)[-1][3] == WEST


async def test_a_cname_query_is_the_site_cname_alone(
    eu: LabResolver, client: Any, rows: Any
) -> None:
    response = await client.query(eu, rdtype="CNAME")
    assert rows(response) == [(SITE, "CNAME", 300, TM_NAME)]
    assert eu.log.last().upstream_subnet is None


async def test_a_hostname_target_comes_back_as_cname_then_a(
    tm: TrafficManagerEmulator, us: LabResolver, client: Any, rows: Any
) -> None:
    """The model's cloudapp.azure.com target: the whole chain Traffic Manager answers."""
    cloudapp = "blog-centralus.centralus.cloudapp.azure.com"
    tm.seed_lab_profile(targets={"westeurope": WEST, "centralus": cloudapp})
    tm.state.hosts[cloudapp] = CENTRAL
    assert rows(await client.query(us)) == [
        (SITE, "CNAME", 300, TM_NAME),
        (TM_NAME, "CNAME", 60, f"{cloudapp}."),
        (f"{cloudapp}.", "A", 60, CENTRAL),
    ]


async def test_a_silent_upstream_is_servfail(make_resolver: Any, client: Any) -> None:
    """Traffic Manager not answering within the upstream timeout: SERVFAIL, reason logged."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
        hole.bind(("127.0.0.1", 0))
        resolver = make_resolver("eu", EUROPE, upstream=hole.getsockname(), upstream_timeout=0.2)
        await resolver.start()
        response = await client.query(resolver, subnet=EUROPE)
    assert response.rcode() == dns.rcode.SERVFAIL
    assert ecs(response) == [("81.2.69.0", 24, 0)]
    assert resolver.log.last().error.startswith("TimeoutError")


async def test_garbage_is_formerr(eu: LabResolver) -> None:
    loop = asyncio.get_running_loop()
    received: asyncio.Future[bytes] = loop.create_future()

    class Catch(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            received.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Catch, remote_addr=(eu.address, eu.port))
    try:
        transport.sendto(b"\x12\x34" + b"\x01" * 14)
        async with asyncio.timeout(2):
            reply = await received
    finally:
        transport.close()
    assert reply[:2] == b"\x12\x34"
    assert reply[3] & 0x0F == dns.rcode.FORMERR


async def test_what_a_resolver_will_not_look_up_is_refused_or_notimp(
    eu: LabResolver, client: Any
) -> None:
    chaos = dns.message.make_query("blog.example.com", "TXT", rdclass="CH")
    assert (await client.query(eu, message=chaos)).rcode() == dns.rcode.REFUSED
    notify = dns.message.make_query("blog.example.com", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert (await client.query(eu, message=notify, via="tcp")).rcode() == dns.rcode.NOTIMP
