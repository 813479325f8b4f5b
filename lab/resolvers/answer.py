"""How a lab resolver answers: pure functions from a query, and Traffic Manager's answer to it,
to the response a recursive resolver would give; and the UDP size rules. No I/O here.

The site's name is a CNAME to the profile's name (the model deployment's
`blog.example.com CNAME blog-tm.trafficmanager.net`), so an answer is that CNAME followed by
whatever Traffic Manager answered, with its TTLs; Traffic Manager's NODATA and NXDOMAIN come back
as the CNAME plus Traffic Manager's SOA, as from any recursive resolver.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = [
    "EDNS_PAYLOAD",
    "SITE_CNAME_TTL",
    "Site",
    "client_subnet",
    "compose",
    "echo",
    "format_error",
    "nxdomain",
    "refusal",
    "servfail",
    "site_cname",
    "subnet_text",
    "to_wire",
    "udp_limit",
    "upstream_query",
    "upstream_scope",
    "wrong_answer",
]

SITE_CNAME_TTL = 300
EDNS_PAYLOAD = 1232  # the DNS flag day 2020 default: no IP fragmentation
_SOA_TTL = 60
_TCP_LIMIT = 65535


@dataclass(frozen=True, slots=True)
class Site:
    """The name a resolver answers, the profile name it points to, and the resolver's own
    subnet (sent as the client subnet when the client sent none)."""

    hostname: dns.name.Name
    tm_name: dns.name.Name
    subnet: dns.edns.ECSOption

    @classmethod
    def of(cls, hostname: str, tm_name: str, subnet: str) -> Site:
        network = ipaddress.ip_network(subnet, strict=False)
        option = dns.edns.ECSOption(str(network.network_address), network.prefixlen)
        return cls(dns.name.from_text(hostname), dns.name.from_text(tm_name), option)

    @property
    def zone(self) -> dns.name.Name:
        """The zone holding the site's name: its parent (`example.com.`)."""
        return self.hostname.parent() if len(self.hostname) > 2 else self.hostname

    def soa(self) -> dns.rrset.RRset:
        zone = self.zone.to_text()
        text = f"ns1.{zone} hostmaster.{zone} 1 3600 600 86400 {_SOA_TTL}"
        return dns.rrset.from_text(self.zone, _SOA_TTL, "IN", "SOA", text)


def client_subnet(message: dns.message.Message) -> dns.edns.ECSOption | None:
    return next((o for o in message.options if isinstance(o, dns.edns.ECSOption)), None)


def subnet_text(option: dns.edns.ECSOption | None) -> str | None:
    return None if option is None else f"{option.address}/{option.srclen}"


def upstream_scope(upstream: dns.message.Message) -> int:
    """The scope prefix length Traffic Manager answered with (0 without an option)."""
    option = client_subnet(upstream)
    return 0 if option is None else option.scopelen


def echo(client: dns.edns.ECSOption | None, scope: int | None) -> list[dns.edns.Option]:
    """The ECS option to answer a client with: its own address and source prefix length with
    `scope` (RFC 7871 §7.2.1); none when it sent none, or when `scope` is None."""
    if client is None or scope is None:
        return []
    # A client that opted out with source prefix 0 gets scope 0 (RFC 7871 §7.2.1).
    return [dns.edns.ECSOption(client.address, client.srclen, scope if client.srclen else 0)]


def _response(
    query: dns.message.Message, rcode: dns.rcode.Rcode, options: list[dns.edns.Option]
) -> dns.message.Message:
    response = dns.message.make_response(query, recursion_available=True)
    response.flags &= ~dns.flags.AA  # a recursive resolver is never authoritative here
    response.set_rcode(rcode)
    if query.edns >= 0:
        response.use_edns(0, 0, EDNS_PAYLOAD, options=options)
    return response


def refusal(query: dns.message.Message) -> dns.message.Message | None:
    """The answer to a query a resolver will not look up (FORMERR, NOTIMP, REFUSED), or None."""
    if query.opcode() != dns.opcode.QUERY:
        return _response(query, dns.rcode.NOTIMP, [])
    if len(query.question) != 1:
        return _response(query, dns.rcode.FORMERR, [])
    if query.question[0].rdclass != dns.rdataclass.IN:
        return _response(query, dns.rcode.REFUSED, [])
    return None


def servfail(query: dns.message.Message, options: list[dns.edns.Option]) -> dns.message.Message:
    return _response(query, dns.rcode.SERVFAIL, options)


def nxdomain(
    query: dns.message.Message, site: Site, options: list[dns.edns.Option]
) -> dns.message.Message:
    response = _response(query, dns.rcode.NXDOMAIN, options)
    response.authority.append(site.soa())
    return response


def site_cname(query: dns.message.Message, site: Site) -> dns.rrset.RRset:
    owner = query.question[0].name
    return dns.rrset.from_text(owner, SITE_CNAME_TTL, "IN", "CNAME", site.tm_name.to_text())


def wrong_answer(
    query: dns.message.Message,
    site: Site,
    address: str,
    ttl: int,
    options: list[dns.edns.Option],
) -> dns.message.Message:
    """The site's name as a direct A (or AAAA) record for `address`: no CNAME, no Traffic
    Manager; NODATA for the other family."""
    response = _response(query, dns.rcode.NOERROR, options)
    rdtype = dns.rdatatype.A if ipaddress.ip_address(address).version == 4 else dns.rdatatype.AAAA
    if query.question[0].rdtype in (rdtype, dns.rdatatype.ANY):
        owner = query.question[0].name
        response.answer.append(dns.rrset.from_text(owner, ttl, "IN", rdtype, address))
    else:
        response.authority.append(site.soa())
    return response


def upstream_query(
    query: dns.message.Message,
    site: Site,
    client: dns.edns.ECSOption | None,
    *,
    payload: int = EDNS_PAYLOAD,
) -> dns.message.Message:
    """The question for Traffic Manager: the profile's name, the client's type, and the client's
    subnet, or the resolver's own when the client sent none or opted out with prefix 0
    (RFC 7871 §7.1.2)."""
    subnet = client if client is not None and client.srclen > 0 else site.subnet
    upstream = dns.message.make_query(
        site.tm_name, query.question[0].rdtype, use_edns=0, payload=payload, options=[subnet]
    )
    upstream.flags &= ~dns.flags.RD  # asking an authoritative server
    return upstream


def compose(
    query: dns.message.Message,
    site: Site,
    upstream: dns.message.Message | None,
    options: list[dns.edns.Option],
) -> dns.message.Message:
    """The site's CNAME followed by Traffic Manager's answer (None: a CNAME query, answered
    without asking). Traffic Manager's NXDOMAIN stays NXDOMAIN; any rcode but NOERROR and
    NXDOMAIN is SERVFAIL, as a resolver that could not finish the chain."""
    if upstream is not None and upstream.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return servfail(query, options)
    rcode = dns.rcode.NOERROR if upstream is None else upstream.rcode()
    response = _response(query, rcode, options)
    response.answer.append(site_cname(query, site))
    if upstream is not None:
        response.answer.extend(upstream.answer)
        response.authority.extend(upstream.authority)  # Traffic Manager's SOA for NODATA
    return response


def udp_limit(query: dns.message.Message) -> int:
    """The largest UDP answer the client takes: 512 bytes, or its EDNS payload size."""
    return min(max(query.payload, 512), _TCP_LIMIT) if query.edns >= 0 else 512


def to_wire(
    response: dns.message.Message, limit: int = _TCP_LIMIT, *, truncate: bool = False
) -> bytes:
    """The response in at most `limit` bytes. When it does not fit, or `truncate`, it goes out
    with TC=1 and its record sections emptied, so the client retries over TCP (RFC 7766 §6.1)."""
    if not truncate:
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            pass
    response.answer.clear()
    response.authority.clear()
    response.additional.clear()
    response.flags |= dns.flags.TC
    return response.to_wire(max_size=limit)


def format_error(wire: bytes) -> bytes | None:
    """FORMERR for a query whose header is readable, else nothing (as BIND does)."""
    if len(wire) < 12:
        return None
    flags = struct.pack("!H", 0x8000 | dns.rcode.FORMERR)  # QR, opcode QUERY, FORMERR
    return wire[:2] + flags + b"\x00" * 8
