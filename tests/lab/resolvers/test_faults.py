"""The resolver faults, switched at runtime and healed: what a client sees for each, and the
panel's validation of names and parameters."""

from __future__ import annotations

from typing import Any

import dns.asyncquery
import dns.edns
import dns.exception
import dns.flags
import dns.rcode
import httpx
import pytest

from lab.resolvers import Fault, LabResolver

EUROPE, AMERICA = "81.2.69.0/24", "8.8.8.0/24"
WEST, CENTRAL = "20.1.2.3", "52.165.160.200"
SITE, TM_NAME = "blog.example.com.", "blog-tm.trafficmanager.net."
VIAS = ["udp", "tcp", "dot", "doh-post"]


def ecs(response: Any) -> list[tuple[str, int, int]]:
    return [
        (o.address, o.srclen, o.scopelen)
        for o in response.options
        if isinstance(o, dns.edns.ECSOption)
    ]


@pytest.mark.parametrize("via", VIAS)
async def test_servfail(eu: LabResolver, client: Any, via: str, rows: Any) -> None:
    eu.inject("servfail")
    response = await client.query(eu, via=via, subnet=EUROPE)
    assert (response.rcode(), response.answer) == (dns.rcode.SERVFAIL, [])
    assert ecs(response) == [("81.2.69.0", 24, 0)]
    assert (eu.log.last().fault, eu.log.last().upstream_subnet) == ("servfail", None)
    eu.heal("servfail")
    assert rows(await client.query(eu, via=via))[-1][3] == WEST


@pytest.mark.parametrize("via", VIAS)
async def test_silence_times_the_client_out(eu: LabResolver, client: Any, via: str) -> None:
    """UDP is dropped; a stream is accepted (TLS handshake included) and never answered."""
    eu.inject(Fault.SILENCE)
    with pytest.raises((dns.exception.Timeout, httpx.TimeoutException)):
        await client.query(eu, via=via, timeout=0.3)
    record = eu.log.last()
    assert (record.transport.value, record.fault, record.rcode) == (via[:3], "silence", None)
    eu.heal()
    assert (await client.query(eu, via=via)).rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("via", ["udp", "doh-get"])
async def test_wrong_answer_is_a_direct_a_record(
    eu: LabResolver, client: Any, via: str, rows: Any
) -> None:
    eu.inject("wrong-answer")
    assert rows(await client.query(eu, via=via)) == [(SITE, "A", 300, "127.0.0.99")]
    eu.inject("wrong-answer", address="203.0.113.7", ttl=5)
    assert eu.faults() == {"wrong-answer": {"address": "203.0.113.7", "ttl": 5, "every": 1}}
    assert rows(await client.query(eu, via=via)) == [(SITE, "A", 5, "203.0.113.7")]
    nodata = await client.query(eu, rdtype="AAAA", via=via)
    assert (nodata.rcode(), nodata.answer) == (dns.rcode.NOERROR, [])
    assert eu.log.last().upstream_subnet is None  # Traffic Manager never asked


async def test_ignore_ecs_routes_by_the_resolver_and_says_scope_zero(
    us: LabResolver, client: Any, rows: Any
) -> None:
    """A European client through the US resolver now gets centralus, with scope 0."""
    us.inject("ignore-ecs")
    response = await client.query(us, subnet=EUROPE)
    assert rows(response)[-1][3] == CENTRAL
    assert ecs(response) == [("81.2.69.0", 24, 0)]
    record = us.log.last()
    assert (record.client_subnet, record.upstream_subnet, record.fault) == (
        EUROPE,
        AMERICA,
        "ignore-ecs",
    )


async def test_ignore_ecs_can_drop_the_option(us: LabResolver, client: Any, rows: Any) -> None:
    us.inject("ignore-ecs", drop=True)
    response = await client.query(us, subnet=EUROPE, via="tcp")
    assert rows(response)[-1][3] == CENTRAL
    assert ecs(response) == []
    us.heal("ignore-ecs")
    healed = await client.query(us, subnet=EUROPE)
    assert (rows(healed)[-1][3], ecs(healed)) == (WEST, [("81.2.69.0", 24, 24)])


async def test_truncate_sends_udp_empty_with_tc_and_tcp_whole(
    eu: LabResolver, client: Any, rows: Any
) -> None:
    eu.inject("truncate")
    udp = await client.query(eu)
    assert udp.flags & dns.flags.TC
    assert (udp.rcode(), udp.answer, udp.authority) == (dns.rcode.NOERROR, [], [])
    assert (eu.log.last().truncated, eu.log.last().fault) == (True, "truncate")
    tcp = await client.query(eu, via="tcp")
    assert not tcp.flags & dns.flags.TC
    assert rows(tcp)[-1][3] == WEST
    fallback, used_tcp = await dns.asyncquery.udp_with_fallback(
        client.message(), eu.address, port=eu.port, timeout=2.0
    )
    assert used_tcp and rows(fallback)[-1][3] == WEST


@pytest.mark.parametrize("via", ["udp", "dot"])
async def test_nxdomain_for_the_site(eu: LabResolver, client: Any, via: str) -> None:
    eu.inject("nxdomain")
    response = await client.query(eu, via=via)
    assert (response.rcode(), response.answer) == (dns.rcode.NXDOMAIN, [])
    assert [r.name.to_text() for r in response.authority] == ["example.com."]


async def test_faults_combine_and_heal_one_by_one_or_all(eu: LabResolver, client: Any) -> None:
    """The answer-deciding fault wins (servfail over wrong-answer); heal() clears them all."""
    eu.inject("wrong-answer")
    eu.inject("servfail")
    assert set(eu.faults()) == {"wrong-answer", "servfail"}
    assert (await client.query(eu)).rcode() == dns.rcode.SERVFAIL
    eu.heal("servfail")
    assert (await client.query(eu)).answer[0][0].to_text() == "127.0.0.99"
    eu.heal("nxdomain")  # not active: nothing happens
    eu.heal()
    assert eu.faults() == {}


def test_unknown_faults_and_parameters_are_named(make_resolver: Any) -> None:
    resolver = make_resolver("eu", EUROPE)
    with pytest.raises(
        ValueError, match=r"unknown fault 'blackhole'; known faults: servfail, silence"
    ):
        resolver.inject("blackhole")
    with pytest.raises(ValueError, match="unknown fault 'blackhole'"):
        resolver.heal("blackhole")
    with pytest.raises(
        ValueError,
        match=r"fault 'wrong-answer' has no parameter 'adress'; it takes: address, count, every, ttl",
    ):
        resolver.inject("wrong-answer", adress="127.0.0.5")
    with pytest.raises(
        ValueError, match=r"fault 'servfail' has no parameter 'ttl'; it takes: count, every"
    ):
        resolver.inject("servfail", ttl=3)
    with pytest.raises(ValueError, match="fault 'wrong-answer': address must be an IP address"):
        resolver.inject("wrong-answer", address="example.com")
    with pytest.raises(ValueError, match="fault 'wrong-answer': ttl must be"):
        resolver.inject("wrong-answer", ttl=-1)
    with pytest.raises(ValueError, match="fault 'ignore-ecs': drop must be a bool"):
        resolver.inject("ignore-ecs", drop="yes")
    assert resolver.faults() == {}


async def test_endless_body_streams_doh_answers_without_end(
    eu: LabResolver, client: Any, resolver_trust: Any
) -> None:
    """DoH answers 200 as a DNS message and never ends the body (well past any DNS message);
    the other transports answer as usual, and healing ends it."""
    eu.inject("endless-body")
    headers = {"content-type": "application/dns-message", "accept": "application/dns-message"}
    received = 0
    async with (
        httpx.AsyncClient(verify=resolver_trust) as http,
        http.stream("POST", eu.doh_url, content=client.message().to_wire(), headers=headers) as r,
    ):
        assert (r.status_code, r.headers["content-type"]) == (200, "application/dns-message")
        async for chunk in r.aiter_raw():
            received += len(chunk)
            if received > 1 << 20:
                break
    assert received > 1 << 20
    assert (await client.query(eu, via="udp")).rcode() == dns.rcode.NOERROR
    eu.heal("endless-body")
    assert (await client.query(eu, via="doh-post")).rcode() == dns.rcode.NOERROR


async def test_servfail_with_count_answers_the_next_queries_then_heals(
    eu: LabResolver, client: Any
) -> None:
    """`count=2`: two SERVFAILs, then the site's answer, and the fault is gone."""
    eu.inject(Fault.SERVFAIL, count=2)
    rcodes = [(await client.query(eu)).rcode() for _ in range(3)]
    assert rcodes == [dns.rcode.SERVFAIL, dns.rcode.SERVFAIL, dns.rcode.NOERROR]
    assert eu.faults() == {}


async def test_nxdomain_every_other_query(eu: LabResolver, client: Any) -> None:
    """`every=2`: one query in two is hit, until healed."""
    eu.inject("nxdomain", every=2)
    rcodes = [(await client.query(eu)).rcode() for _ in range(4)]
    assert rcodes == [dns.rcode.NOERROR, dns.rcode.NXDOMAIN] * 2
    assert eu.faults() == {"nxdomain": {"every": 2}}


async def test_truncate_counts_udp_answers_only(eu: LabResolver, client: Any) -> None:
    """Truncation can only change a UDP answer: a TCP query does not use up its count."""
    eu.inject(Fault.TRUNCATE, count=1)
    assert not (await client.query(eu, via="tcp")).flags & dns.flags.TC
    assert (await client.query(eu, via="udp")).flags & dns.flags.TC
    assert eu.faults() == {}
