"""Probes from a chosen local address (`checks.https.source_address`): a vantage point's own
path to a region, on loopback from 127.0.1.N."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from monitor.clock import SystemClock
from monitor.config import HttpsRequest, load_config
from monitor.errors import ConfigError
from monitor.probes.https import HttpsProbe, HttpsTarget
from monitor.results import Outcome

HOSTNAME = "blog.example.com"
PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"


async def probe_from(source: str | None, port: int) -> tuple[Outcome, str | None]:
    target = HttpsTarget("westeurope", HOSTNAME, "127.0.0.1", 1, port)
    result = await HttpsProbe(
        target,
        HttpsRequest(name="plain", scheme="http"),
        ssl_context=ssl.create_default_context(),
        timeout=2,
        clock=SystemClock(),
        source_address=source,
    ).probe()
    return result.outcome, result.reason


@pytest.mark.parametrize("source", ["127.0.1.7", None])
async def test_a_probe_connects_from_its_source_address(source: str | None) -> None:
    """The region sees the probe come from the configured address (or the system's choice,
    127.0.0.1 on loopback, when none is set)."""
    peers: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        await reader.readuntil(b"\r\n\r\n")
        writer.write(PAGE)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        outcome, _ = await probe_from(source, server.sockets[0].getsockname()[1])
    assert outcome is Outcome.UP
    assert peers == [source or "127.0.0.1"]


async def test_a_source_address_this_machine_does_not_have_is_our_error() -> None:
    """Binding to an address that is not ours fails before anything is sent: ERROR (our
    network), never a region failure."""
    outcome, reason = await probe_from("192.0.2.1", 9)
    assert outcome is Outcome.ERROR
    assert reason is not None and reason.startswith("local network error")


async def test_a_source_of_another_family_than_the_region_is_our_error() -> None:
    """An IPv6 source cannot reach an IPv4 region: ERROR, naming both."""
    outcome, reason = await probe_from("::1", 9)
    assert outcome is Outcome.ERROR
    assert reason is not None and "from ::1" in reason


def test_a_source_address_must_be_an_address(tmp_path: Path) -> None:
    """A name where an address is expected is refused at load, with the key named."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "site: {hostname: blog.example.com}\n"
        "regions: {westeurope: {address: 127.0.0.2}}\n"
        "checks: {https: {source_address: probes.example.com}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert "checks.https.source_address: expected an IPv4 or IPv6 address, got " in str(
        caught.value
    )
