"""Fixtures for the lab resolvers: an eu and a us resolver in front of the `tm` emulator (lab
profile: westeurope → GEO-EU at 20.1.2.3, centralus → WORLD at 52.165.160.200), with DoT and
DoH, and a dnspython/httpx client that asks them over any transport."""

from __future__ import annotations

import asyncio
import base64
import ssl
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import dns.asyncquery
import dns.edns
import dns.flags
import dns.message
import dns.rdatatype
import httpx
import pytest
import trustme

from lab.resolvers import DEFAULT_TLS_NAME, LabResolver, client_context, server_context
from lab.trafficmanager import TrafficManagerEmulator


@pytest.fixture(scope="session")
def resolver_tls(tm_ca: trustme.CA) -> ssl.SSLContext:
    return server_context(tm_ca)


@pytest.fixture(scope="session")
def resolver_trust(tm_ca: trustme.CA) -> ssl.SSLContext:
    return client_context(tm_ca)


ResolverFactory = Callable[..., LabResolver]


@pytest.fixture
async def make_resolver(
    tm: TrafficManagerEmulator, resolver_tls: ssl.SSLContext
) -> AsyncIterator[ResolverFactory]:
    """Builds resolvers in front of `tm`, with DoT and DoH; every one is stopped at the end."""
    built: list[LabResolver] = []

    def make(name: str, subnet: str, **kwargs: Any) -> LabResolver:
        kwargs.setdefault("upstream", ("127.0.0.1", tm.dns_port))
        kwargs.setdefault("tls", resolver_tls)
        resolver = LabResolver(name, subnet=subnet, **kwargs)
        built.append(resolver)
        return resolver

    yield make
    for resolver in built:
        await resolver.stop()


@pytest.fixture
async def eu(make_resolver: ResolverFactory) -> LabResolver:
    resolver = make_resolver("eu", "81.2.69.0/24")
    await resolver.start()
    return resolver


@pytest.fixture
async def us(make_resolver: ResolverFactory) -> LabResolver:
    resolver = make_resolver("us", "8.8.8.0/24")
    await resolver.start()
    return resolver


@pytest.fixture
async def truncating_upstream(tm: TrafficManagerEmulator) -> AsyncIterator[tuple[str, int]]:
    """Traffic Manager's name server behind a path that truncates every UDP answer (TC, no
    records) and carries TCP whole: UDP and TCP on one loopback port, answered by `tm.dns`."""
    loop = asyncio.get_running_loop()

    class Udp(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.DatagramTransport, transport)

        def datagram_received(self, data: bytes, addr: Any) -> None:
            whole = tm.dns.answer(data, "127.0.0.1")
            assert whole is not None
            reply = dns.message.from_wire(whole)
            reply.answer.clear()
            reply.authority.clear()
            reply.flags |= dns.flags.TC
            self.transport.sendto(reply.to_wire(), addr)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            reply = tm.dns.answer(await reader.readexactly(length), "127.0.0.1", max_size=65535)
            assert reply is not None
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    for _ in range(10):
        udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0))
        port = udp.get_extra_info("sockname")[1]
        try:
            tcp = await asyncio.start_server(serve, "127.0.0.1", port)
            break
        except OSError:
            udp.close()  # the UDP port's TCP twin is taken: try another
    else:
        pytest.fail("no free UDP+TCP port pair on 127.0.0.1")
    try:
        yield ("127.0.0.1", port)
    finally:
        udp.close()
        tcp.close()
        await tcp.wait_closed()


class Client:
    """A client of the lab resolvers: dnspython for UDP, TCP and DoT, httpx for DoH (dnspython
    2.9's own DoH wants httpx2 and h2, which this project does not install)."""

    def __init__(self, trust: ssl.SSLContext) -> None:
        self.trust = trust

    @staticmethod
    def message(
        name: str = "blog.example.com", rdtype: str = "A", *, subnet: str | None = None
    ) -> dns.message.Message:
        options = [dns.edns.ECSOption.from_text(subnet)] if subnet else []
        return dns.message.make_query(name, rdtype, use_edns=0, options=options)

    async def query(
        self,
        resolver: LabResolver,
        name: str = "blog.example.com",
        rdtype: str = "A",
        *,
        subnet: str | None = None,
        via: str = "udp",
        timeout: float = 2.0,
        message: dns.message.Message | None = None,
    ) -> dns.message.Message:
        query = message or self.message(name, rdtype, subnet=subnet)
        address = resolver.address
        if via == "udp":
            return await dns.asyncquery.udp(query, address, port=resolver.port, timeout=timeout)
        if via == "tcp":
            return await dns.asyncquery.tcp(query, address, port=resolver.port, timeout=timeout)
        if via == "dot":
            return await dns.asyncquery.tls(
                query,
                address,
                port=resolver.dot_port,
                timeout=timeout,
                ssl_context=self.trust,
                server_hostname=DEFAULT_TLS_NAME,
            )
        if via in ("doh-get", "doh-post"):
            response = await self.doh(resolver, query, post=via == "doh-post", timeout=timeout)
            response.raise_for_status()
            return dns.message.from_wire(response.content)
        raise ValueError(f"unknown transport {via!r}")

    async def doh(
        self,
        resolver: LabResolver,
        query: dns.message.Message,
        *,
        post: bool = True,
        timeout: float = 2.0,
    ) -> httpx.Response:
        """The raw DoH exchange (RFC 8484 §4.1), over a connection of its own."""
        headers = {"accept": "application/dns-message"}
        async with httpx.AsyncClient(verify=self.trust, timeout=timeout) as http:
            if post:
                headers["content-type"] = "application/dns-message"
                return await http.post(resolver.doh_url, content=query.to_wire(), headers=headers)
            encoded = base64.urlsafe_b64encode(query.to_wire()).rstrip(b"=").decode()
            return await http.get(resolver.doh_url, params={"dns": encoded}, headers=headers)


@pytest.fixture
def client(resolver_trust: ssl.SSLContext) -> Client:
    return Client(resolver_trust)


def records(response: dns.message.Message) -> list[tuple[str, str, int, str]]:
    """The answer section as (owner, type, ttl, value) rows."""
    return [
        (rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, rdata.to_text())
        for rrset in response.answer
        for rdata in rrset
    ]


@pytest.fixture
def rows() -> Callable[[dns.message.Message], list[tuple[str, str, int, str]]]:
    """`rows(response)`: the answer section as (owner, type, ttl, value)."""
    return records
