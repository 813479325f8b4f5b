"""Traffic Manager's authoritative DNS for `{relativeName}.trafficmanager.net`, over UDP and TCP
on loopback, answering by the routing rules of `routing.py`.

An IP target is an A (or AAAA) record for the profile's name; a hostname target is a CNAME to it,
followed by the target's own address when the emulator knows it (`state.hosts`). TTLs are the profile's `dnsConfig.ttl`. A missing or disabled profile is
NXDOMAIN; no endpoint for the client is NODATA; both carry the zone's SOA.

EDNS Client Subnet (RFC 7871): Traffic Manager "considers the client subnet address if it is
included in the query" for Geographic routing (docs/traffic-manager.md). The answer
echoes the option with the source prefix length as its scope. (A path that loses the option is
the lab resolvers' `ignore-ecs` fault, not this server's.)
"""

from __future__ import annotations

import ipaddress
import logging
import struct

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from lab.dnstransport import DnsServer
from lab.trafficmanager.model import TM_SUFFIX, Profile
from lab.trafficmanager.routing import Client, route
from lab.trafficmanager.state import TrafficManagerState

__all__ = ["TrafficManagerDns"]

_log = logging.getLogger(__name__)

_ZONE = dns.name.from_text(TM_SUFFIX)
# Traffic Manager's zone SOA, as `dig SOA trafficmanager.net` shows it.
_SOA = "tm1.msft.net. hostmaster.trafficmanager.net. 2003080800 900 300 2419200 30"
_SOA_TTL = 30
_EDNS_PAYLOAD = 1232


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TrafficManagerDns:
    """One Traffic Manager name server. `geography` is where the querying resolver is (used
    when a query has no client subnet); None locates the query's source address instead."""

    def __init__(
        self,
        state: TrafficManagerState,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        geography: str | None = None,
    ) -> None:
        if geography is not None and state.locator.canonical(geography) is None:
            raise ValueError(f"{geography!r} is not a code of the geographic hierarchy")
        self.state = state
        self.geography = geography
        self.queries = 0
        self._host = host
        # A TCP query not worth an answer (garbage) ends the conversation.
        self._server = DnsServer(self._answer, host=host, port=port, hang_up=True)

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The port of both the UDP and the TCP listener."""
        return self._server.port

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def __aenter__(self) -> TrafficManagerDns:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # Answers.

    def answer(self, wire: bytes, source: str, *, max_size: int | None = None) -> bytes | None:
        """The wire answer to a wire query from `source`; None for garbage not worth an answer."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _format_error(wire)
        response = self.resolve(query, source)
        limit = max_size or (max(query.payload, 512) if query.edns >= 0 else 512)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer.clear()
            response.authority.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()

    async def _answer(self, wire: bytes, source: str, stream: bool) -> bytes | None:
        # Over TCP only the two-byte length frame bounds the size.
        return self.answer(wire, source, max_size=65535 if stream else None)

    def resolve(self, query: dns.message.Message, source: str) -> dns.message.Message:
        """The answer to `query`, asked by a resolver at `source`."""
        self.queries += 1
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        client, option = self._client(query, source)
        if query.edns >= 0:
            response.use_edns(0, 0, _EDNS_PAYLOAD, options=[option] if option else [])
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        if question.rdclass != dns.rdataclass.IN or not qname.is_subdomain(_ZONE):
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.REFUSED)
            return response
        if qname == _ZONE:
            if qtype in (dns.rdatatype.SOA, dns.rdatatype.ANY):
                response.answer.append(_soa())
            else:
                response.authority.append(_soa())
            return response
        profile = self.state.profile_by_fqdn(qname.to_text())
        if profile is None or not self._add_answer(response, qname, profile, client, qtype):
            response.set_rcode(dns.rcode.NXDOMAIN)
        if not response.answer or response.rcode() == dns.rcode.NXDOMAIN:
            response.authority.append(_soa())
        return response

    def _client(
        self, query: dns.message.Message, source: str
    ) -> tuple[Client, dns.edns.ECSOption | None]:
        """Where the client is, and the ECS option to answer with."""
        resolver = Client(self.geography or self.state.locator.locate(source), source)
        ecs = next((o for o in query.options if isinstance(o, dns.edns.ECSOption)), None)
        if ecs is None:
            return resolver, None
        if ecs.srclen == 0:
            # A source prefix of 0 is the client opting out (RFC 7871 §7.1.2): scope 0 too.
            return resolver, dns.edns.ECSOption(ecs.address, ecs.srclen, 0)
        client = Client(self.state.locator.locate(ecs.address), ecs.address)
        return client, dns.edns.ECSOption(ecs.address, ecs.srclen, ecs.srclen)

    def _add_answer(
        self,
        response: dns.message.Message,
        name: dns.name.Name,
        profile: Profile,
        client: Client,
        qtype: dns.rdatatype.RdataType,
    ) -> bool:
        """Add the answer for `name` (a profile's fqdn); False means NXDOMAIN."""
        decision = route(self.state, profile, client)
        _log.debug("dns_routed name=%s decision=%s", name, decision.reason)
        if decision.nxdomain:
            return False
        addresses: list[str] = []
        for endpoint in decision.endpoints:
            if _address(endpoint.target) is not None:
                addresses.append(endpoint.target)
                continue
            # A hostname: one CNAME, then its address when we know it.
            target_name = dns.name.from_text(endpoint.target)
            _add(response, name, dns.rdatatype.CNAME, profile.ttl, target_name.to_text())
            known = self.state.hosts.get(endpoint.target.lower().rstrip("."))
            if known is not None and qtype != dns.rdatatype.CNAME:
                self._add_addresses(response, target_name, [known], qtype, profile.ttl)
            return True  # a CNAME is the one answer for a name
        self._add_addresses(response, name, addresses, qtype, profile.ttl)
        return True

    def _add_addresses(
        self,
        response: dns.message.Message,
        name: dns.name.Name,
        addresses: list[str],
        qtype: dns.rdatatype.RdataType,
        ttl: int,
    ) -> None:
        for text in addresses:
            ip = _address(text)
            rdtype = dns.rdatatype.A if ip is not None and ip.version == 4 else dns.rdatatype.AAAA
            if qtype in (rdtype, dns.rdatatype.ANY):
                _add(response, name, rdtype, ttl, text)


def _soa() -> dns.rrset.RRset:
    return dns.rrset.from_text(_ZONE, _SOA_TTL, "IN", "SOA", _SOA)


def _add(
    response: dns.message.Message,
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    ttl: int,
    value: str,
) -> None:
    rrset = response.find_rrset(response.answer, name, dns.rdataclass.IN, rdtype, create=True)
    rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, value), ttl)


def _format_error(wire: bytes) -> bytes | None:
    """FORMERR for a query whose header is readable, else nothing (as BIND does)."""
    if len(wire) < 12:
        return None
    query_id = wire[:2]
    flags = struct.pack("!H", 0x8000 | dns.rcode.FORMERR)  # QR, opcode QUERY, FORMERR
    return query_id + flags + b"\x00" * 8
