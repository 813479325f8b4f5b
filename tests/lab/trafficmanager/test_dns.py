"""Traffic Manager's DNS answers: routing by EDNS Client Subnet, Disabled vs Degraded, NODATA
and NXDOMAIN, and CNAMEs (docs/traffic-manager.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import dns.edns
import dns.flags
import dns.rcode
import dns.rdatatype
import trustme

from lab.trafficmanager import (
    MonitorStatus,
    TrafficManagerDns,
    TrafficManagerEmulator,
)

RG, PROFILE = "blog", "blog"
TM_NAME = "blog-tm.trafficmanager.net"
EUROPE, AMERICA = "81.2.69.0/24", "8.8.8.0/24"
WEST, CENTRAL = "20.1.2.3", "52.165.160.200"


def set_status(client: Any, endpoint: str, status: str) -> Any:
    body = {"properties": {"endpointStatus": status}}
    return client.endpoints.update(RG, PROFILE, "ExternalEndpoints", endpoint, body)


async def test_geographic_routing_follows_the_client_subnet(resolver: Any) -> None:
    """Europe gets westeurope; America, an unknown subnet and a query without one (from a
    resolver the emulator cannot place) fall through to WORLD."""
    assert await resolver.addresses(subnet=EUROPE) == [WEST]
    assert await resolver.addresses() == [CENTRAL]
    assert await resolver.addresses(subnet=AMERICA) == [CENTRAL]
    assert await resolver.addresses(subnet="198.51.100.0/24") == [CENTRAL]
    assert await resolver.addresses(subnet=EUROPE, tcp=True) == [WEST]


async def test_disabling_moves_europe_to_world_then_nodata(
    azure: Any, resolver: Any, tm: TrafficManagerEmulator
) -> None:
    """Disabled endpoints leave the matching; with WORLD disabled too, Europe gets NODATA."""
    client = azure.client()
    assert await resolver.addresses(subnet=EUROPE) == [WEST]
    await asyncio.to_thread(set_status, client, "westeurope", "Disabled")
    assert await resolver.addresses(subnet=EUROPE) == [CENTRAL]
    await asyncio.to_thread(set_status, client, "centralus", "Disabled")

    response = await resolver.query(subnet=EUROPE)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []
    assert [rrset.rdtype for rrset in response.authority] == [dns.rdatatype.SOA]
    assert response.flags & dns.flags.AA

    await asyncio.to_thread(set_status, client, "westeurope", "Enabled")
    assert await resolver.addresses(subnet=EUROPE) == [WEST]
    assert await resolver.addresses(subnet=AMERICA) == []  # nothing maps WORLD now


async def test_a_degraded_geographic_endpoint_keeps_its_traffic(
    resolver: Any, tm: TrafficManagerEmulator
) -> None:
    """ "Traffic Manager returns it regardless of whether the endpoint is healthy or not."""
    tm.force_monitor_status("westeurope", MonitorStatus.DEGRADED)
    assert await resolver.addresses(subnet=EUROPE) == [WEST]


async def test_a_stopped_geographic_match_is_nodata(
    resolver: Any, tm: TrafficManagerEmulator
) -> None:
    tm.force_monitor_status("westeurope", MonitorStatus.STOPPED)
    assert await resolver.addresses(subnet=EUROPE) == []


async def test_the_answer_ttl_is_the_profile_ttl(resolver: Any, tm: TrafficManagerEmulator) -> None:
    response = await resolver.query(subnet=EUROPE)
    assert [rrset.ttl for rrset in response.answer] == [60]


async def test_the_client_subnet_is_echoed_with_its_scope(resolver: Any) -> None:
    """RFC 7871: the answer's ECS option repeats the source prefix, scope = source prefix."""
    response = await resolver.query(subnet=EUROPE)
    (option,) = [o for o in response.options if isinstance(o, dns.edns.ECSOption)]
    assert (option.address, option.srclen, option.scopelen) == ("81.2.69.0", 24, 24)


async def test_without_a_subnet_the_resolver_geography_decides(
    tm_ca: trustme.CA, resolver_for: Any
) -> None:
    """A name server standing for a European resolver answers westeurope, one for Japan
    centralus (WORLD)."""
    async with TrafficManagerEmulator(ca=tm_ca, dns_geography="DE") as tm:
        tm.seed_lab_profile()
        resolver = resolver_for(tm)
        assert await resolver.addresses() == [WEST]
        async with TrafficManagerDns(tm.state, geography="JP") as asia:
            assert await resolver.addresses(port=asia.port) == [CENTRAL]
            assert await resolver.addresses(port=asia.port, subnet=EUROPE) == [WEST]


async def test_unknown_names_and_disabled_profiles_are_nxdomain(
    azure: Any, tm: TrafficManagerEmulator, resolver: Any
) -> None:
    """A name with no profile, and a disabled profile (docs/traffic-manager.md: "DNS answers NXDOMAIN")."""
    missing = await resolver.query("nope.trafficmanager.net")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert [rrset.rdtype for rrset in missing.authority] == [dns.rdatatype.SOA]
    tm.state.patch_profile(
        tm.subscription_id, RG, PROFILE, {"properties": {"profileStatus": "Disabled"}}
    )
    assert (await resolver.query(subnet=EUROPE)).rcode() == dns.rcode.NXDOMAIN
    client = azure.client()
    profile = await asyncio.to_thread(client.profiles.get, RG, PROFILE)
    assert profile.monitor_config.profile_monitor_status == "Disabled"
    assert {e.endpoint_monitor_status for e in profile.endpoints} == {"Inactive"}


async def test_names_outside_the_zone_are_refused(resolver: Any) -> None:
    response = await resolver.query("blog.example.com")
    assert response.rcode() == dns.rcode.REFUSED


async def test_aaaa_for_an_ipv4_target_is_nodata(resolver: Any) -> None:
    response = await resolver.query(rdtype="AAAA", subnet=EUROPE)
    assert (response.rcode(), response.answer) == (dns.rcode.NOERROR, [])


async def test_hostname_targets_are_cnames_followed_by_known_addresses(
    tm: TrafficManagerEmulator, resolver: Any
) -> None:
    """The model's cloudapp.azure.com target: a CNAME, then its A when the emulator knows it."""
    cloudapp = "blog-centralus.centralus.cloudapp.azure.com"
    tm.seed_lab_profile(targets={"westeurope": WEST, "centralus": cloudapp})
    response = await resolver.query(subnet=AMERICA)
    assert [(r.name.to_text(), r.rdtype, r[0].to_text()) for r in response.answer] == [
        (f"{TM_NAME}.", dns.rdatatype.CNAME, f"{cloudapp}.")
    ]
    tm.state.hosts[cloudapp] = CENTRAL
    response = await resolver.query(subnet=AMERICA)
    assert [r[0].to_text() for r in response.answer] == [f"{cloudapp}.", CENTRAL]
    only_cname = await resolver.query(rdtype="CNAME", subnet=AMERICA)
    assert [r.rdtype for r in only_cname.answer] == [dns.rdatatype.CNAME]
