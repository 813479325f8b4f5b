"""Fixtures shared by the whole suite: the lab CA, loopback origins and configuration files."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from hypothesis import settings
from netns import reaches as inside_test_namespaces

from lab.certs import LabCA
from lab.origin import RegionalOrigin
from lab.sandbox import MODEL_REQUESTS
from lab.trafficmanager import TrafficManagerEmulator

HOSTNAME = "blog.example.com"

# Bounded and deterministic in CI: no flakes from a slow machine or a new random seed.
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _loopback(host: object) -> bool:
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text.lower() in ("localhost", "localhost."):
        return True
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    # The one exception: hosts inside network namespaces the tests create themselves, while
    # they exist (tests/netns.py); their addresses lead nowhere else.
    return address.is_loopback or inside_test_namespaces(text)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The network rule, enforced: refuse to resolve or reach any host (or IP literal) that is
    not loopback (or inside a test's own network namespaces), and fail the test if anything
    tried. Name lookups go through getaddrinfo; connections and datagrams to literal
    addresses through socket.connect, connect_ex and sendto, which asyncio, dnspython, httpx
    and requests all end up calling."""
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            attempts.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: not loopback (test guard)")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and address and not _loopback(address[0]):
            attempts.append(str(address[0]))
            raise PermissionError(f"{address[0]}: not loopback (test guard)")

    real_connect, real_connect_ex, real_sendto = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.socket.sendto,
    )

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        check(args[-1])
        return real_sendto(self, data, *args)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    yield attempts
    assert attempts == [], f"something tried to leave loopback: {attempts}"


@pytest.fixture(scope="session")
def tm_ca() -> trustme.CA:
    """One CA for every emulator of the session: issuing a certificate is cheap, a CA is not."""
    return trustme.CA(organization_name="regionwatch TM emulator (tests)")


@pytest.fixture
async def tm(tm_ca: trustme.CA) -> AsyncIterator[TrafficManagerEmulator]:
    """A running emulator holding the lab's Geographic profile `blog` (westeurope → GEO-EU,
    centralus → WORLD)."""
    async with TrafficManagerEmulator(ca=tm_ca) as emulator:
        emulator.seed_lab_profile()
        yield emulator


@pytest.fixture(scope="session")
def lab_ca() -> LabCA:
    return LabCA()


@pytest.fixture(scope="session")
def lab_ca_file(lab_ca: LabCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lab_ca.write_ca_pem(tmp_path_factory.mktemp("ca") / "lab-ca.pem")


@pytest.fixture
async def two_regions(lab_ca: LabCA) -> AsyncIterator[dict[str, RegionalOrigin]]:
    """westeurope and centralus, healthy, on loopback."""
    async with (
        RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=lab_ca) as west,
        RegionalOrigin(region="centralus", hostname=HOSTNAME, ca=lab_ca) as central,
    ):
        yield {"westeurope": west, "centralus": central}


@pytest.fixture
def seeded(
    tm: TrafficManagerEmulator, two_regions: dict[str, RegionalOrigin]
) -> TrafficManagerEmulator:
    """The emulator's lab profile with the origins' addresses as targets (no drift), both
    endpoints Online in Traffic Manager's own view."""
    tm.seed_lab_profile(targets={name: o.address for name, o in two_regions.items()})
    for name in two_regions:
        tm.force_monitor_status(name, "Online")
    return tm


ConfigWriter = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path, lab_ca_file: Path) -> ConfigWriter:
    """Writes a configuration for the given origins; keyword arguments override sections."""

    def write(origins: dict[str, RegionalOrigin], **sections: Any) -> Path:
        config: dict[str, Any] = {
            "site": {"hostname": HOSTNAME},
            "regions": {
                name: {"address": o.address, "port": o.https_port, "http_port": o.http_port}
                for name, o in origins.items()
            },
            "tls": {"ca_file": str(lab_ca_file)},
            "checks": {
                "https": {
                    "interval": "1s",
                    "timeout": "1s",
                    "requests": MODEL_REQUESTS,
                }
            },
            "api": {"listen": "127.0.0.1:0"},
            "storage": {"path": str(tmp_path / "regionwatch.db")},
        }
        config.update(sections)
        path = tmp_path / "regionwatch.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    return write
