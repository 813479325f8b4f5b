"""`LabResolver`: a user's recursive resolver in one geography, answering the site's name
through the emulated Traffic Manager over UDP, TCP, DoT and DoH on loopback, with faults.

    async with LabResolver("eu", subnet=LAB_SUBNETS["eu"], upstream=("127.0.0.1", tm.dns_port),
                           tls=server_context(ca)) as eu:
        await dns.asyncquery.udp(query, eu.address, port=eu.port)
        await dns.asyncquery.tls(query, eu.address, port=eu.dot_port,
                                 ssl_context=client_context(ca), server_hostname=DEFAULT_TLS_NAME)

It keeps no cache: every query asks Traffic Manager, so a change of routing shows at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import ssl
from collections.abc import Mapping

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from lab.faults import Fault, FaultBoard, ParamValue, Target
from lab.resolvers import answer
from lab.resolvers.doh import DohServer
from lab.resolvers.log import QueryRecord, RequestLog, Transport
from lab.resolvers.transports import DnsListeners
from lab.resolvers.upstream import ask

__all__ = ["LAB_SUBNETS", "LabResolver"]

_Fired = Mapping[Fault, Mapping[str, ParamValue]]

# The faults that can change an answer over each transport (DoH's endless body is drawn by the
# DoH server, before it asks for an answer).
_ANSWERING = frozenset({Fault.SILENCE, Fault.SERVFAIL, Fault.NXDOMAIN, Fault.WRONG_ANSWER})
_FAULTS_OVER: Mapping[Transport, frozenset[Fault]] = {
    transport: _ANSWERING
    | {Fault.IGNORE_ECS}
    | ({Fault.TRUNCATE} if transport is Transport.UDP else set())
    for transport in Transport
}

_log = logging.getLogger(__name__)

# A subnet per geography the lab stands resolvers in, from the emulator's geography table.
LAB_SUBNETS: Mapping[str, str] = {
    "eu": "81.2.69.0/24",  # GB
    "us": "8.8.8.0/24",  # US
    "asia": "133.0.0.0/24",  # JP
}


def _loopback(address: str, what: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{what} must be a loopback IP address, not {address!r}") from None
    if not ip.is_loopback:
        raise ValueError(f"{what} must be a loopback IP address, not {address!r}")
    return str(ip)


class LabResolver:
    """A recursive resolver standing for the geography of `subnet`.

    A query for `hostname` is answered `hostname CNAME tm_name` (TTL 300) plus Traffic Manager's
    answer for `tm_name`, asked at `upstream` with the client's EDNS Client Subnet, or with
    `subnet` when the client sent none; the client's option is echoed with Traffic Manager's
    scope. Other names are NXDOMAIN. UDP and TCP listen on `address:port`; DoT and DoH, each on
    its own port, only when `tls` (a server context, see `certs.server_context`) is given.
    Every port 0 means a free one.
    """

    def __init__(
        self,
        name: str,
        *,
        subnet: str,
        upstream: tuple[str, int],
        hostname: str = "blog.example.com",
        tm_name: str = "blog-tm.trafficmanager.net",
        address: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        dot_port: int = 0,
        doh_port: int = 0,
        upstream_timeout: float = 2.0,
        upstream_payload: int = answer.EDNS_PAYLOAD,
        log_size: int = 10_000,
    ) -> None:
        try:
            network = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            raise ValueError(
                f"subnet must be a network such as 81.2.69.0/24, not {subnet!r}"
            ) from None
        self._name = name
        self._subnet = str(network)
        self._site = answer.Site.of(hostname, tm_name, self._subnet)
        self._upstream = (_loopback(upstream[0], "the upstream"), upstream[1])
        self._address = _loopback(address, "the address")
        self._ports = (port, dot_port, doh_port)
        self._tls = tls
        self._upstream_timeout = upstream_timeout
        self._upstream_payload = upstream_payload
        self._panel = FaultBoard(Target.RESOLVER)
        self.log = RequestLog(log_size)
        self._listeners: DnsListeners | None = None
        self._doh: DohServer | None = None

    def __repr__(self) -> str:
        return f"LabResolver({self._name!r}, subnet={self._subnet!r}, faults={self.faults()!r})"

    # What clients need.

    @property
    def name(self) -> str:
        return self._name

    @property
    def subnet(self) -> str:
        """The resolver's own subnet, normalised (`81.2.69.0/24`)."""
        return self._subnet

    @property
    def hostname(self) -> str:
        return self._site.hostname.to_text(omit_final_dot=True)

    @property
    def address(self) -> str:
        return self._address

    @property
    def port(self) -> int:
        """The port of both the UDP and the TCP listener."""
        return self._running().port

    @property
    def dot_port(self) -> int:
        listeners = self._running()
        if self._tls is None:
            raise RuntimeError(f"resolver {self._name!r} has no DoT: it was built without tls")
        return listeners.dot_port

    @property
    def doh_url(self) -> str:
        """`https://127.0.0.1:PORT/dns-query`."""
        self._running()
        if self._doh is None:
            raise RuntimeError(f"resolver {self._name!r} has no DoH: it was built without tls")
        return self._doh.url

    def _running(self) -> DnsListeners:
        if self._listeners is None:
            raise RuntimeError(f"resolver {self._name!r} is not started")
        return self._listeners

    # Lifecycle.

    async def start(self) -> None:
        """Start listening; a no-op when already started."""
        if self._listeners is not None:
            return
        port, dot_port, doh_port = self._ports
        self._listeners = DnsListeners(
            self.answer, host=self._address, port=port, dot_port=dot_port, tls=self._tls
        )
        try:
            await self._listeners.start()
            if self._tls is not None:
                self._doh = DohServer(
                    self.answer, self._tls, host=self._address, port=doh_port, faults=self._panel
                )
                await self._doh.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close every listener and connection; a no-op when not started."""
        doh, listeners = self._doh, self._listeners
        self._doh = self._listeners = None
        if doh is not None:
            await doh.stop()
        if listeners is not None:
            await listeners.stop()

    async def __aenter__(self) -> LabResolver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # Faults.

    def inject(self, fault: str | Fault, **params: ParamValue) -> None:
        """Switch a fault on; ValueError names an unknown fault or parameter (see `lab.faults`)."""
        self._panel.inject(fault, params)
        _log.info("resolver_fault_injected resolver=%s fault=%s", self._name, fault)

    def heal(self, fault: str | Fault | None = None) -> None:
        """Switch one fault off, or all of them."""
        self._panel.heal(fault)
        _log.info("resolver_healed resolver=%s fault=%s", self._name, fault or "all")

    def faults(self) -> dict[str, dict[str, ParamValue]]:
        """The active faults, each with its parameters."""
        return self._panel.snapshot()

    # Answers.

    async def answer(self, wire: bytes, transport: Transport) -> bytes | None:
        """The wire answer to a wire query received over `transport`; None for no answer."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return answer.format_error(wire)
        if query.flags & dns.flags.QR:
            return None  # a response is not a question
        fired = self._panel.draw(_FAULTS_OVER[transport])
        response, record = await self._resolve(query, transport, fired)
        reply: bytes | None = None
        if response is not None and transport is not Transport.UDP:
            reply = answer.to_wire(response)
        elif response is not None:
            forced = Fault.TRUNCATE in fired
            reply = answer.to_wire(response, answer.udp_limit(query), truncate=forced)
            if response.flags & dns.flags.TC:
                fault = record.fault or (Fault.TRUNCATE.value if forced else None)
                record = dataclasses.replace(record, truncated=True, fault=fault)
        self.log.append(record)
        return reply

    async def _resolve(
        self, query: dns.message.Message, transport: Transport, fired: _Fired
    ) -> tuple[dns.message.Message | None, QueryRecord]:
        client = answer.client_subnet(query)
        asked = query.question[0] if query.question else None
        record = QueryRecord(
            transport=transport,
            qname=asked.name.to_text(omit_final_dot=True) if asked is not None else "",
            qtype=dns.rdatatype.to_text(asked.rdtype) if asked is not None else "",
            client_subnet=answer.subnet_text(client),
        )
        if Fault.SILENCE in fired:
            return None, dataclasses.replace(record, fault=Fault.SILENCE.value)
        refused = answer.refusal(query)
        if refused is not None:
            return _done(refused, record)
        question = query.question[0]  # exactly one, or refusal() said FORMERR
        local = answer.echo(client, 0)  # an answer made here does not depend on the subnet
        site = self._site
        if Fault.SERVFAIL in fired:
            return _done(answer.servfail(query, local), record, Fault.SERVFAIL)
        if question.name != site.hostname:
            return _done(answer.nxdomain(query, site, local), record)
        if Fault.NXDOMAIN in fired:
            return _done(answer.nxdomain(query, site, local), record, Fault.NXDOMAIN)
        wrong = fired.get(Fault.WRONG_ANSWER)
        if wrong is not None:
            address, ttl = wrong["address"], wrong["ttl"]
            assert isinstance(address, str) and isinstance(ttl, int)
            response = answer.wrong_answer(query, site, address, ttl, local)
            return _done(response, record, Fault.WRONG_ANSWER)
        if question.rdtype == dns.rdatatype.CNAME:
            return _done(answer.compose(query, site, None, local), record)
        return await self._forward(query, record, client, fired.get(Fault.IGNORE_ECS))

    async def _forward(
        self,
        query: dns.message.Message,
        record: QueryRecord,
        client: dns.edns.ECSOption | None,
        ignore: Mapping[str, ParamValue] | None,
    ) -> tuple[dns.message.Message, QueryRecord]:
        upstream_query = answer.upstream_query(
            query, self._site, None if ignore else client, payload=self._upstream_payload
        )
        record = dataclasses.replace(
            record,
            upstream_subnet=answer.subnet_text(answer.client_subnet(upstream_query)),
            fault=Fault.IGNORE_ECS.value if ignore is not None and client is not None else None,
        )
        host, port = self._upstream
        try:
            async with asyncio.timeout(self._upstream_timeout):
                upstream, carried_by = await ask(upstream_query, host, port)
        except (dns.exception.DNSException, OSError) as exc:
            _log.warning("upstream_failed resolver=%s error=%r", self._name, exc)
            failed = dataclasses.replace(record, error=f"{type(exc).__name__}: {exc}")
            return _done(answer.servfail(query, answer.echo(client, 0)), failed)
        record = dataclasses.replace(record, upstream_transport=carried_by)
        if ignore is not None:
            scope: int | None = None if ignore["drop"] else 0
        else:
            scope = answer.upstream_scope(upstream)
        return _done(
            answer.compose(query, self._site, upstream, answer.echo(client, scope)), record
        )


def _done(
    response: dns.message.Message, record: QueryRecord, fault: Fault | None = None
) -> tuple[dns.message.Message, QueryRecord]:
    rcode = dns.rcode.to_text(response.rcode())
    return response, dataclasses.replace(
        record, rcode=rcode, fault=fault.value if fault is not None else record.fault
    )
