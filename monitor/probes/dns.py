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

from monitor.bodies import BodyTooLarge, read_bounded
from monitor.clock import Clock, SystemClock
from monitor.config import ResolverConfig, VantagePointConfig
from monitor.probes.dnswire import (
    TYPE_A,
    TYPE_AAAA,
    TYPE_CNAME,
    Reply,
    WireError,
    parse_reply,
    reply_from_message,
    udp_exchange,
    with_new_id,
)
from monitor.redaction import redact_urls
from monitor.results import DnsStatus

__all__ = ["DNS_MESSAGE_MAX", "DnsAnswer", "DnsProbe", "Hop"]

_DEFAULT_PORTS = {"udp": 53, "tcp": 53, "dot": 853}
_DNS_MESSAGE = "application/dns-message"
# The largest DNS message there is (RFC 1035 §4.2.2's two-byte length): a DoH answer beyond it
# is not a DNS message, whatever it is.
DNS_MESSAGE_MAX = 65535
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
    usable answer: TIMEOUT, SERVFAIL, NXDOMAIN, or ERROR (our side, or a refusal)."""

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
    failure: DnsStatus | None = None
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
        clock: Clock | None = None,
    ) -> None:
        self.hostname = hostname
        self._clock = clock or SystemClock()
        self.resolver = resolver
        self.vantage = vantage
        self._timeout = timeout
        self._ssl = ssl_context
        self._http = http
        # Encoded once: a round sends the same questions every time (only the id changes).
        subnet = str(vantage.client_subnet) if vantage else None
        options = [dns.edns.ECSOption.from_text(subnet)] if subnet else []
        self._queries = {
            rdtype: dns.message.make_query(
                hostname, rdtype, use_edns=0, payload=1232, options=options
            )
            for rdtype in ("A", "AAAA")
        }
        self._wires = {rdtype: query.to_wire() for rdtype, query in self._queries.items()}

    async def probe(self) -> DnsAnswer:
        start = self._clock.monotonic()
        subnet = str(self.vantage.client_subnet) if self.vantage else None
        # A and AAAA at once; when one fails the other is cancelled, never left running.
        queries = [asyncio.ensure_future(self._ask(rdtype)) for rdtype in ("A", "AAAA")]
        try:
            async with asyncio.timeout(self._timeout):
                a, aaaa = await asyncio.gather(*queries)
        except (TimeoutError, dns.exception.Timeout):
            # dnspython's own deadline may fire first, with a message of its own
            # ("timed out after 0.000 seconds"): the same timeout, said one way.
            return self._failed(DnsStatus.TIMEOUT, f"no answer within {self._timeout:g}s", subnet)
        except BodyTooLarge as e:
            return self._failed(DnsStatus.ERROR, f"not a DNS answer: {e}", subnet)
        except (
            WireError,
            dns.exception.FormError,
            dns.message.BadEDNS,
            dns.exception.SyntaxError,
        ) as e:
            return self._failed(DnsStatus.ERROR, f"malformed answer: {e}", subnet)
        except (OSError, ssl.SSLError, httpx.HTTPError, dns.exception.DNSException) as e:
            return self._failed(
                DnsStatus.ERROR, f"resolver unreachable: {type(e).__name__}: {e}", subnet
            )
        except Exception as e:  # our bug: an error of this query, never a crashed round
            log.exception("dns_probe_crashed", resolver=self.resolver.name)
            return self._failed(DnsStatus.ERROR, f"internal error: {type(e).__name__}", subnet)
        finally:
            for query in queries:
                query.cancel()
        latency = round((self._clock.monotonic() - start) * 1000, 2)
        return self._answer(a, aaaa, subnet, latency)

    async def _ask(self, rdtype: str) -> tuple[Reply, bool]:
        """One query; returns the reply and whether it came over a stream (TCP, DoT, DoH)."""
        r = self.resolver
        port = r.port or _DEFAULT_PORTS.get(r.protocol, 53)
        query = self._queries[rdtype]
        match r.protocol:
            case "udp":
                wire = with_new_id(self._wires[rdtype])
                reply = parse_reply(await udp_exchange(wire, str(r.address), port))
                if not reply.truncated:
                    return reply, False
                # Truncated: the same question over TCP, as a stub resolver would.
                response = await dns.asyncquery.tcp(query, str(r.address), self._timeout, port)
            case "tcp":
                response = await dns.asyncquery.tcp(query, str(r.address), self._timeout, port)
            case "dot":
                response = await dns.asyncquery.tls(
                    query,
                    str(r.address),
                    self._timeout,
                    port,
                    ssl_context=self._ssl,
                    server_hostname=r.tls_hostname or str(r.address),
                )
            case "doh":
                response = await self._doh(query)
        return reply_from_message(response), True

    async def _doh(self, query: dns.message.Message) -> dns.message.Message:
        """RFC 8484 POST through httpx (dnspython's own DoH needs httpx2 and h2)."""
        if self._http is None:
            raise ValueError("a doh resolver needs an HTTP client")
        query.id = 0  # RFC 8484 §4.1: cache-friendly, the exchange is matched by HTTP
        headers = {
            "Content-Type": _DNS_MESSAGE,
            "Accept": _DNS_MESSAGE,
            "Accept-Encoding": "identity",  # the bound counts wire bytes: nothing to inflate
        }
        async with self._http.stream(
            "POST", str(self.resolver.url), content=query.to_wire(), headers=headers
        ) as reply:
            if reply.status_code != 200:
                raise httpx.HTTPStatusError(
                    f"DoH answered {reply.status_code}", request=reply.request, response=reply
                )
            wire = await read_bounded(reply, DNS_MESSAGE_MAX, what="the DoH answer")
        return dns.message.from_wire(wire)

    def _answer(
        self, a: tuple[Reply, bool], aaaa: tuple[Reply, bool], subnet: str | None, latency_ms: float
    ) -> DnsAnswer:
        reply, stream = a
        rcode = dns.rcode.to_text(dns.rcode.Rcode.make(reply.rcode))
        hops, addresses, ttl = _chain(self.hostname, reply)
        if aaaa[0].rcode == dns.rcode.NOERROR:
            _, more, more_ttl = _chain(self.hostname, aaaa[0])
            addresses += more
            ttls = [t for t in (ttl, more_ttl) if t is not None]
            ttl = min(ttls) if ttls else None
        base = DnsAnswer(
            resolver=self.resolver.name,
            vantage=self.vantage.name if self.vantage else None,
            rcode=rcode,
            hops=hops,
            ecs_scope=reply.ecs_scope,
            ecs_sent=subnet,
            used_tcp=stream or aaaa[1],
            latency_ms=latency_ms,
        )
        if reply.rcode == dns.rcode.SERVFAIL:
            return replace(base, failure=DnsStatus.SERVFAIL, reason="SERVFAIL")
        if reply.rcode == dns.rcode.NXDOMAIN:
            return replace(base, failure=DnsStatus.NXDOMAIN, reason=f"NXDOMAIN for {self.hostname}")
        if reply.rcode != dns.rcode.NOERROR:
            return replace(base, failure=DnsStatus.ERROR, reason=f"resolver answered {rcode}")
        ordered = tuple(sorted(set(addresses), key=_address_key))
        return replace(base, addresses=ordered, address_ttl=ttl)

    def _failed(self, failure: DnsStatus, reason: str, subnet: str | None) -> DnsAnswer:
        return DnsAnswer(
            resolver=self.resolver.name,
            vantage=self.vantage.name if self.vantage else None,
            rcode="",
            ecs_sent=subnet,
            failure=failure,
            # Library errors may quote the DoH URL, and it may carry credentials.
            reason=redact_urls(reason),
        )


def _chain(hostname: str, reply: Reply) -> tuple[tuple[Hop, ...], list[str], int | None]:
    """Follow the CNAME chain from `hostname` through the answer records."""
    name = hostname.rstrip(".").lower()
    cnames = {r.name: r for r in reply.records if r.rdtype == TYPE_CNAME}
    hops: list[Hop] = []
    seen = {name}
    while name in cnames:
        record = cnames[name]
        hops.append(Hop(name, record.value, record.ttl))
        if record.value in seen:
            break  # a loop: stop rather than spin
        seen.add(record.value)
        name = record.value
    found = [r for r in reply.records if r.name == name and r.rdtype in (TYPE_A, TYPE_AAAA)]
    ttl = min((r.ttl for r in found), default=None)
    return tuple(hops), [r.value for r in found], ttl


def _address_key(address: str) -> tuple[int, int]:
    parsed = ipaddress.ip_address(address)
    return parsed.version, int(parsed)
