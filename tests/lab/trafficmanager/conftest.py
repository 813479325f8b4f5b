"""Fixtures for the Traffic Manager emulator: a running emulator with the lab's profile, the real
Azure SDK pointed at it (run in worker threads), and a guard that keeps every name lookup on
loopback, so no test can reach login.microsoftonline.com or any other real address."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import Any, TypeVar

import dns.asyncquery
import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype
import httpx
import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.trafficmanager import TrafficManagerManagementClient

from lab.trafficmanager import TrafficManagerEmulator

C = TypeVar("C", bound=AbstractContextManager[Any])

TM_NAME = "blog-tm.trafficmanager.net"
EUROPE = "81.2.69.0/24"  # GB in the emulator's geography table
AMERICA = "8.8.8.0/24"  # US
WESTEUROPE_IP = "20.1.2.3"
CENTRALUS_IP = "52.165.160.200"


class Azure:
    """The real azure-identity and azure-mgmt-trafficmanager against the emulator; everything
    built here is closed when the test ends."""

    def __init__(self, tm: TrafficManagerEmulator, stack: ExitStack) -> None:
        self.tm = tm
        self._stack = stack

    def own(self, closeable: C) -> C:
        """Close `closeable` (a credential or client) when the test ends."""
        return self._stack.enter_context(closeable)

    def credential(
        self, client_id: str | None = None, secret: str | None = None, **kwargs: Any
    ) -> ClientSecretCredential:
        credential = ClientSecretCredential(
            self.tm.tenant_id,
            client_id or self.tm.client_id,
            secret or self.tm.client_secret,
            authority=self.tm.base_url,
            disable_instance_discovery=True,  # or MSAL asks login.microsoftonline.com first
            connection_verify=str(self.tm.ca_file),
            **kwargs,
        )
        return self._stack.enter_context(credential)

    def client(self, credential: Any = None, **kwargs: Any) -> TrafficManagerManagementClient:
        kwargs.setdefault("retry_total", 0)
        client = TrafficManagerManagementClient(
            credential or self.credential(),
            self.tm.subscription_id,
            base_url=self.tm.base_url,
            connection_verify=str(self.tm.ca_file),
            **kwargs,
        )
        return self._stack.enter_context(client)


@pytest.fixture
async def http(tm: TrafficManagerEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTPS client for the emulator, for what the SDK never sends."""
    context = ssl.create_default_context(cafile=str(tm.ca_file))
    async with httpx.AsyncClient(base_url=tm.base_url, verify=context, timeout=5.0) as client:
        yield client


@pytest.fixture
def azure(tm: TrafficManagerEmulator) -> Iterator[Azure]:
    with ExitStack() as stack:
        yield Azure(tm, stack)


class Resolver:
    """Queries to the emulator's name server, over UDP or TCP, with or without a client subnet."""

    def __init__(self, tm: TrafficManagerEmulator) -> None:
        self.tm = tm

    async def query(
        self,
        name: str = TM_NAME,
        rdtype: str = "A",
        *,
        subnet: str | None = None,
        tcp: bool = False,
        port: int | None = None,
    ) -> dns.message.Message:
        options = [dns.edns.ECSOption.from_text(subnet)] if subnet else []
        message = dns.message.make_query(name, rdtype, use_edns=0, options=options)
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        return await send(message, "127.0.0.1", port=port or self.tm.dns_port, timeout=2.0)

    async def addresses(self, name: str = TM_NAME, **kwargs: Any) -> list[str]:
        """The A/AAAA addresses answered for `name`, in order ([] for NODATA)."""
        response = await self.query(name, **kwargs)
        assert response.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(response.rcode())
        return [
            rdata.to_text()
            for rrset in response.answer
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            for rdata in rrset
        ]


@pytest.fixture
def resolver_for() -> type[Resolver]:
    """Resolvers for emulators a test starts itself: `resolver_for(tm).addresses(...)`."""
    return Resolver


@pytest.fixture
def resolver(tm: TrafficManagerEmulator) -> Resolver:
    return Resolver(tm)
