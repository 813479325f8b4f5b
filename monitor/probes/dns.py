"""The DNS probe: the site's name through one resolver, as seen from one vantage point.

One attempt under one timeout: A and AAAA at once, over UDP (retried over TCP when
truncated), TCP, DNS over TLS or DNS over HTTPS, with an EDNS Client Subnet option when the
vantage point has a subnet. It reports the answer as it came: the CNAME chain with TTLs, the
addresses, the ECS scope. Which region that means is decided in `monitor.dnsmap`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from dataclasses import dataclass, field, replace

import dns.asyncquery
import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import httpx
import structlog

from monitor.config import ResolverConfig, VantagePointConfig

__all__ = ["DnsAnswer", "DnsProbe", "Hop"]

_DEFAULT_PORTS = {"udp": 53, "tcp": 53, "dot": 853}
_DNS_MESSAGE = "application/dns-message"
log = structlog.get_logger("monitor.probes.dns")


@dataclass(frozen=True, slots=True)
class Hop:
    """One CNAME in the chain: `name` points at `target` for `ttl` seconds."""

    name: str
    target: str
    ttl: int


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """What one resolver answered for one vantage point. `failure` is set when there is no
    usable answer: `timeout`, `servfail`, `nxdomain`, or `error` (our side, or a refusal)."""

    resolver: str
    vantage: str | None
    rcode: str
    addresses: tuple[str, ...] = ()
    address_ttl: int | None = None
    hops: tuple[Hop, ...] = ()
    ecs_scope: int | None = None  # None: the response carried no ECS option
    ecs_sent: str | None = None
    used_tcp: bool = False
    latency_ms: float | None = None
    failure: str | None = None
    reason: str = ""
    facts: dict[str, str] = field(default_factory=dict)


class DnsProbe:
    """The site's name through `resolver`, from `vantage` (or from wherever the resolver is)."""

    kind = "dns"

    def __init__(
        self,
        hostname: str,
        resolver: ResolverConfig,
        vantage: VantagePointConfig | None,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.hostname = hostname
        self.resolver = resolver
        self.vantage = vantage
        self._timeout = timeout
        self._ssl = ssl_context
        self._http = http

    async def probe(self) -> DnsAnswer:
        loop = asyncio.get_running_loop()
        start = loop.time()
        subnet = str(self.vantage.client_subnet) if self.vantage else None
        try:
            async with asyncio.timeout(self._timeout):
                a, aaaa = await asyncio.gather(self._ask("A", subnet), self._ask("AAAA", subnet))
        except TimeoutError:
            return self._failed("timeout", f"no answer within {self._timeout:g}s", subnet)
        except (dns.exception.FormError, dns.message.BadEDNS, dns.exception.SyntaxError) as e:
            return self._failed("error", f"malformed answer: {e}", subnet)
        except (OSError, ssl.SSLError, httpx.HTTPError, dns.exception.DNSException) as e:
            return self._failed("error", f"resolver unreachable: {type(e).__name__}: {e}", subnet)
        except Exception as e:  # our bug: an error of this query, never a crashed round
            log.exception("dns_probe_crashed", resolver=self.resolver.name)
            return self._failed("error", f"internal error: {type(e).__name__}", subnet)
        latency = round((loop.time() - start) * 1000, 2)
        return self._answer(a, aaaa, subnet, latency)

    async def _ask(self, rdtype: str, subnet: str | None) -> tuple[dns.message.Message, bool]:
        options = [dns.edns.ECSOption.from_text(subnet)] if subnet else []
        query = dns.message.make_query(
            self.hostname, rdtype, use_edns=0, payload=1232, options=options
        )
        r = self.resolver
        port = r.port or _DEFAULT_PORTS.get(r.protocol, 53)
        match r.protocol:
            case "udp":
                return await dns.asyncquery.udp_with_fallback(
                    query, str(r.address), timeout=self._timeout, port=port
                )
            case "tcp":
                return await dns.asyncquery.tcp(query, str(r.address), self._timeout, port), True
            case "dot":
                response = await dns.asyncquery.tls(
                    query,
                    str(r.address),
                    self._timeout,
                    port,
                    ssl_context=self._ssl,
                    server_hostname=r.tls_hostname or str(r.address),
                )
                return response, True
            case "doh":
                return await self._doh(query), True

    async def _doh(self, query: dns.message.Message) -> dns.message.Message:
        """RFC 8484 POST through httpx (dnspython's own DoH needs httpx2 and h2)."""
        if self._http is None:
            raise ValueError("a doh resolver needs an HTTP client")
        query.id = 0  # RFC 8484 §4.1: cache-friendly, the exchange is matched by HTTP
        reply = await self._http.post(
            str(self.resolver.url),
            content=query.to_wire(),
            headers={"Content-Type": _DNS_MESSAGE, "Accept": _DNS_MESSAGE},
        )
        if reply.status_code != 200:
            raise httpx.HTTPStatusError(
                f"DoH answered {reply.status_code}", request=reply.request, response=reply
            )
        return dns.message.from_wire(reply.content)

    def _answer(
        self,
        a: tuple[dns.message.Message, bool],
        aaaa: tuple[dns.message.Message, bool],
        subnet: str | None,
        latency_ms: float,
    ) -> DnsAnswer:
        response, used_tcp = a
        rcode = dns.rcode.to_text(response.rcode())
        hops, addresses, ttl = _chain(self.hostname, response)
        _, more, more_ttl = _chain(self.hostname, aaaa[0])
        if aaaa[0].rcode() == dns.rcode.NOERROR:
            addresses += more
            ttl = min(t for t in (ttl, more_ttl) if t is not None) if (ttl or more_ttl) else None
        base = DnsAnswer(
            resolver=self.resolver.name,
            vantage=self.vantage.name if self.vantage else None,
            rcode=rcode,
            hops=hops,
            ecs_scope=_ecs_scope(response),
            ecs_sent=subnet,
            used_tcp=used_tcp or aaaa[1],
            latency_ms=latency_ms,
        )
        if response.rcode() == dns.rcode.SERVFAIL:
            return replace(base, failure="servfail", reason="SERVFAIL")
        if response.rcode() == dns.rcode.NXDOMAIN:
            return replace(base, failure="nxdomain", reason=f"NXDOMAIN for {self.hostname}")
        if response.rcode() != dns.rcode.NOERROR:
            return replace(base, failure="error", reason=f"resolver answered {rcode}")
        ordered = tuple(sorted(set(addresses), key=_address_key))
        return replace(base, addresses=ordered, address_ttl=ttl)

    def _failed(self, failure: str, reason: str, subnet: str | None) -> DnsAnswer:
        return DnsAnswer(
            resolver=self.resolver.name,
            vantage=self.vantage.name if self.vantage else None,
            rcode="",
            ecs_sent=subnet,
            failure=failure,
            reason=reason,
        )


def _chain(
    hostname: str, response: dns.message.Message
) -> tuple[tuple[Hop, ...], list[str], int | None]:
    """Follow the CNAME chain from `hostname` through the answer section."""
    name = dns.name.from_text(hostname)
    hops: list[Hop] = []
    seen = {name}
    while True:
        cname = next(
            (r for r in response.answer if r.name == name and r.rdtype == dns.rdatatype.CNAME),
            None,
        )
        if cname is None:
            break
        target = cname[0].target
        hops.append(
            Hop(name.to_text(omit_final_dot=True), target.to_text(omit_final_dot=True), cname.ttl)
        )
        if target in seen:
            break  # a loop: stop rather than spin
        seen.add(target)
        name = target
    addresses: list[str] = []
    ttl = None
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            addresses += [r.to_text() for r in rrset]
            ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
    return tuple(hops), addresses, ttl


def _ecs_scope(response: dns.message.Message) -> int | None:
    for option in response.options:
        if isinstance(option, dns.edns.ECSOption):
            return int(option.scopelen)
    return None


def _address_key(address: str) -> tuple[int, int]:
    parsed = ipaddress.ip_address(address)
    return parsed.version, int(parsed)
