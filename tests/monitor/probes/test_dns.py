"""The DNS check against the lab's resolvers, which answer through the emulated Traffic Manager."""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import trustme
from servers import eventually

from lab.resolvers import LabResolver, server_context
from lab.trafficmanager import TrafficManagerEmulator
from monitor.config import Config, parse_config
from monitor.dnsmap import DnsFinding
from monitor.dnsround import DnsRound
from monitor.logs import configure_logging
from monitor.probes.dns import DnsProbe
from monitor.probes.https import build_ssl_context
from monitor.trafficmanager.model import ProfileState, parse_profile

EUROPE, AMERICA = "81.2.69.0/24", "8.8.8.0/24"
WEST, CENTRAL = "127.0.0.2", "127.0.0.3"
TLS_NAME = "dns.lab.example"
DNS_MESSAGE_MAX = 65535  # the largest DNS message there is


@pytest.fixture
async def world(
    tm: TrafficManagerEmulator, tm_ca: trustme.CA
) -> AsyncIterator[dict[str, LabResolver]]:
    """The lab profile with loopback targets, and two resolvers: eu and us."""
    tm.seed_lab_profile(targets={"westeurope": WEST, "centralus": CENTRAL})
    tls = server_context(tm_ca)
    upstream = ("127.0.0.1", tm.dns_port)
    async with (
        LabResolver("eu", subnet=EUROPE, upstream=upstream, tls=tls) as eu,
        LabResolver("us", subnet=AMERICA, upstream=upstream, tls=tls) as us,
    ):
        yield {"eu": eu, "us": us}


@pytest.fixture
def trust(tm_ca: trustme.CA, tmp_path: Path) -> ssl.SSLContext:
    path = tmp_path / "ca.pem"
    tm_ca.cert_pem.write_to_path(str(path))
    return build_ssl_context(str(path))


def config(resolvers: list[dict[str, Any]], *, vantage: bool = True, timeout: str = "1s") -> Config:
    return parse_config(
        {
            "site": {"hostname": "blog.example.com"},
            "regions": {"westeurope": {"address": WEST}, "centralus": {"address": CENTRAL}},
            "checks": {
                "dns": {
                    "timeout": timeout,
                    "resolvers": resolvers,
                    "vantage_points": [
                        {"name": "europe", "client_subnet": EUROPE, "expect_region": "westeurope"},
                        {"name": "america", "client_subnet": AMERICA, "expect_region": "centralus"},
                    ]
                    if vantage
                    else [],
                }
            },
        }
    )


def udp(resolver: LabResolver, expect: str | None) -> dict[str, Any]:
    return {
        "name": resolver.name,
        "address": resolver.address,
        "port": resolver.port,
        "expect_region": expect,
    }


async def round_of(
    cfg: Config, trust: ssl.SSLContext, tm: TrafficManagerEmulator | None = None
) -> dict[tuple[str, str | None], DnsFinding]:
    dns = DnsRound(cfg, trust)
    profile = _profile(tm) if tm is not None else None
    try:
        findings = await dns.run(profile)
    finally:
        await dns.close()
    return {(f.answer.resolver, f.answer.vantage): f for f in findings}


def _profile(tm: TrafficManagerEmulator) -> ProfileState:
    return parse_profile(tm.state.profile_json(tm.profile()))


async def test_every_resolver_and_vantage_point_is_sent_where_it_should_be(
    world: dict[str, LabResolver], trust: ssl.SSLContext, tm: TrafficManagerEmulator
) -> None:
    """Plain queries follow each resolver's geography; ECS queries follow the vantage point."""
    cfg = config([udp(world["eu"], "westeurope"), udp(world["us"], "centralus")])
    results = await round_of(cfg, trust, tm)
    statuses = {key: (f.status, f.region) for key, f in results.items()}
    assert statuses == {
        ("eu", None): ("ok", "westeurope"),
        ("eu", "europe"): ("ok", "westeurope"),
        ("eu", "america"): ("ok", "centralus"),
        ("us", None): ("ok", "centralus"),
        ("us", "europe"): ("ok", "westeurope"),
        ("us", "america"): ("ok", "centralus"),
    }
    answer = results[("us", "europe")].answer
    assert answer.addresses == (WEST,)
    assert [(h.name, h.target, h.ttl) for h in answer.hops] == [
        ("blog.example.com", "blog-tm.trafficmanager.net", 300)
    ]
    assert answer.address_ttl == 60
    assert answer.ecs_scope and answer.ecs_scope > 0


async def test_the_client_subnet_is_on_the_wire(
    world: dict[str, LabResolver], trust: ssl.SSLContext
) -> None:
    """The resolver receives each vantage point's subnet; plain queries carry none."""
    await round_of(config([udp(world["us"], None)]), trust)
    subnets = {r.client_subnet for r in world["us"].log if r.qtype == "A"}
    assert subnets == {None, EUROPE, AMERICA}


async def test_disabling_westeurope_reads_failover_and_enabling_it_ok(
    world: dict[str, LabResolver], trust: ssl.SSLContext, tm: TrafficManagerEmulator
) -> None:
    """Disabled in Traffic Manager: Europe is sent to centralus and that is a failover, not a
    mismatch; enabled again, ok."""
    cfg = config([udp(world["eu"], "westeurope")])
    tm.set_endpoint_status("westeurope", "Disabled")
    after = await round_of(cfg, trust, tm)
    assert (after[("eu", "europe")].status, after[("eu", "europe")].region) == (
        "failover",
        "centralus",
    )
    assert (
        after[("eu", "europe")].reason
        == "sent to centralus: westeurope is Disabled in Traffic Manager"
    )
    blind = await round_of(cfg, trust)  # without Traffic Manager's view nothing explains it
    assert blind[("eu", "europe")].status == "mismatch"
    tm.set_endpoint_status("westeurope", "Enabled")
    again = await round_of(cfg, trust, tm)
    assert again[("eu", "europe")].status == "ok"


async def test_an_uncovered_geography_is_nodata(
    world: dict[str, LabResolver], trust: ssl.SSLContext, tm: TrafficManagerEmulator
) -> None:
    """With the WORLD endpoint disabled, America has no endpoint at all: NODATA."""
    tm.set_endpoint_status("centralus", "Disabled")
    results = await round_of(config([udp(world["us"], "centralus")]), trust, tm)
    assert results[("us", "america")].status == "nodata"
    assert results[("us", "europe")].status == "ok"


async def test_a_resolver_ignoring_ecs_is_not_called_wrong(
    world: dict[str, LabResolver], trust: ssl.SSLContext
) -> None:
    """Scope 0 means the subnet was ignored: 'ECS not honoured', never a mismatch."""
    world["us"].inject("ignore-ecs")
    results = await round_of(config([udp(world["us"], "centralus")]), trust)
    europe = results[("us", "europe")]
    assert (europe.status, europe.region) == ("unknown", "centralus")
    assert europe.reason == "ECS not honoured: the resolver ignored the client subnet"
    assert results[("us", None)].status == "ok"


@pytest.mark.parametrize(
    ("fault", "params", "status"),
    [
        ("servfail", {}, "servfail"),
        ("silence", {}, "timeout"),
        ("nxdomain", {}, "nxdomain"),
        ("wrong-answer", {"address": CENTRAL}, "mismatch"),
        ("wrong-answer", {"address": "192.0.2.1"}, "unknown"),
    ],
)
async def test_resolver_faults_give_their_status(
    world: dict[str, LabResolver],
    trust: ssl.SSLContext,
    fault: str,
    params: dict[str, Any],
    status: str,
) -> None:
    """Each failure a resolver can have maps to its status of the contract."""
    world["eu"].inject(fault, **params)
    results = await round_of(
        config([udp(world["eu"], "westeurope")], vantage=False, timeout="300ms"), trust
    )
    assert results[("eu", None)].status == status


async def test_a_truncated_udp_answer_is_asked_again_over_tcp(
    world: dict[str, LabResolver], trust: ssl.SSLContext
) -> None:
    """TC over UDP: the same query over TCP, and the answer judged normally."""
    world["eu"].inject("truncate")
    results = await round_of(config([udp(world["eu"], "westeurope")], vantage=False), trust)
    finding = results[("eu", None)]
    assert (finding.status, finding.answer.used_tcp) == ("ok", True)
    assert {r.transport.value for r in world["eu"].log} == {"udp", "tcp"}


@pytest.mark.parametrize("protocol", ["tcp", "dot", "doh"])
async def test_tcp_dot_and_doh_give_the_same_answer(
    world: dict[str, LabResolver], trust: ssl.SSLContext, protocol: str
) -> None:
    """Every transport reaches the same answer, and the resolver saw that transport."""
    eu = world["eu"]
    resolver: dict[str, Any] = {"name": "eu", "protocol": protocol, "expect_region": "westeurope"}
    if protocol == "tcp":
        resolver |= {"address": eu.address, "port": eu.port}
    elif protocol == "dot":
        resolver |= {"address": eu.address, "port": eu.dot_port, "tls_hostname": TLS_NAME}
    else:
        resolver |= {"url": eu.doh_url}
    results = await round_of(config([resolver]), trust)
    assert {key: f.status for key, f in results.items()} == {
        ("eu", None): "ok",
        ("eu", "europe"): "ok",
        ("eu", "america"): "ok",
    }
    assert results[("eu", None)].region == "westeurope"
    assert results[("eu", "america")].region == "centralus"
    assert {r.transport.value for r in eu.log} == {protocol}


async def test_an_unreachable_resolver_is_error_or_timeout(trust: ssl.SSLContext) -> None:
    """A closed TCP port is our side's 'error'; a UDP query into nothing is a timeout."""
    closed = {"name": "gone", "protocol": "tcp", "address": "127.0.0.1", "port": 9}
    results = await round_of(config([closed], vantage=False, timeout="300ms"), trust)
    assert results[("gone", None)].status == "error"
    assert results[("gone", None)].reason.startswith("resolver unreachable")
    silent = {"name": "void", "address": "127.0.0.1", "port": 9}
    results = await round_of(config([silent], vantage=False, timeout="300ms"), trust)
    assert results[("void", None)].status in ("timeout", "error")


class _CountedBody(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, counter: CountingTransport) -> None:
        self._inner = inner
        self._counter = counter

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._counter.read += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        self._counter.closed += 1
        await self._inner.aclose()


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, counting the body bytes it handed to the client."""

    def __init__(self, trust: ssl.SSLContext) -> None:
        self._inner = httpx.AsyncHTTPTransport(verify=trust)
        self.read = 0
        self.opened = 0
        self.closed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        self.opened += 1
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_CountedBody(response.stream, self),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_an_endless_doh_answer_is_an_error_read_no_further_than_the_bound(
    world: dict[str, LabResolver], trust: ssl.SSLContext
) -> None:
    """A DoH server streaming a 200 without end: each query stops reading within one network
    read past 65,535 bytes, and the resolver's finding is an error naming the bound."""
    eu = world["eu"]
    eu.inject("endless-body")
    cfg = config([{"name": "eu", "protocol": "doh", "url": eu.doh_url}], vantage=False)
    counting = CountingTransport(trust)
    async with httpx.AsyncClient(transport=counting) as http:
        probe = DnsProbe(
            cfg.site.hostname,
            cfg.checks.dns.resolvers[0],  # type: ignore[union-attr]
            None,
            timeout=1.0,
            ssl_context=trust,
            http=http,
        )
        answer = await probe.probe()
        await eventually(lambda: counting.opened == counting.closed == 2)  # A and AAAA
    assert answer.failure == "error"
    assert answer.reason == "not a DNS answer: the DoH answer is larger than 65535 bytes"
    # httpx hands over at most 64 KiB per read: the bound plus one read, for each query.
    assert 2 * DNS_MESSAGE_MAX < counting.read <= 2 * (DNS_MESSAGE_MAX + 65536)

    finding = (await round_of(cfg, trust))[("eu", None)]
    assert (finding.status, finding.reason) == ("error", answer.reason)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)
    structlog.configure(**config)


@pytest.mark.parametrize("library_detail", [False, True], ids=["defaults", "httpx-debug"])
async def test_a_doh_urls_credentials_appear_in_no_log_line(
    world: dict[str, LabResolver],
    trust: ssl.SSLContext,
    capsys: pytest.CaptureFixture[str],
    restored_logging: None,
    library_detail: bool,
) -> None:
    """A DoH URL with a user, a password and an apikey: no line the service logs (httpx's and
    httpcore's at debug included) carries the password, the key or the Basic credentials."""
    user, password, key = "reader", "hunter2-doh-password", "sk-live-doh-key"
    eu = world["eu"]
    url = eu.doh_url.replace("https://", f"https://{user}:{password}@") + f"?apikey={key}"
    if library_detail:
        configure_logging(json=True, level=logging.DEBUG)
        logging.getLogger("httpx").setLevel(logging.DEBUG)
        logging.getLogger("httpcore").setLevel(logging.DEBUG)
    else:
        configure_logging(json=True)
    cfg = config([{"name": "eu", "protocol": "doh", "url": url}], vantage=False)
    assert (await round_of(cfg, trust))[("eu", None)].status == "ok"
    eu.inject("endless-body")
    assert (await round_of(cfg, trust))[("eu", None)].status == "error"
    logging.getLogger("httpx").warning("request to %s failed", url, exc_info=ValueError(url))
    err = capsys.readouterr().err
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    for secret in (password, key, basic):
        assert secret not in err
    assert f"https://***@127.0.0.1:{eu.doh_url.split(':')[-1].split('/')[0]}/dns-query" in err
    if library_detail:
        assert "HTTP Request: POST https://***@" in err
        assert "apikey=***" in err
