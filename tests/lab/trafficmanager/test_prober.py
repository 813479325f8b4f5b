"""Traffic Manager's endpoint probing against real loopback origins, driven round by round."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import h11
import pytest
import trustme

from lab.certs import LabCA
from lab.origin import RegionalOrigin, loopback_address
from lab.trafficmanager import MonitorStatus, Prober, TrafficManagerEmulator

HOSTNAME = "blog.example.com"
WEST = "20.1.2.3"


@pytest.fixture
async def west(lab_ca: LabCA) -> AsyncIterator[RegionalOrigin]:
    async with RegionalOrigin(
        region="westeurope", hostname=HOSTNAME, ca=lab_ca, address=loopback_address(0)
    ) as origin:
        yield origin


@pytest.fixture
def prober(tm: TrafficManagerEmulator, west: RegionalOrigin) -> Prober:
    """The emulator's prober, probing westeurope's public IP at the loopback origin."""
    tm.prober.route(WEST, west.address, west.https_port)
    return tm.prober


def status(tm: TrafficManagerEmulator, endpoint: str = "westeurope") -> MonitorStatus:
    profile = tm.profile()
    found = profile.endpoint(endpoint)
    assert found is not None
    return tm.state.monitor_status(profile, found)


def patch_monitor(tm: TrafficManagerEmulator, **monitor: Any) -> None:
    tm.state.patch_profile(
        tm.subscription_id, "blog", "blog", {"properties": {"monitorConfig": monitor}}
    )


async def test_a_healthy_origin_goes_online(
    tm: TrafficManagerEmulator, prober: Prober, west: RegionalOrigin
) -> None:
    """One good probe: Online. centralus has no loopback route, so it is never contacted and
    stays CheckingEndpoint."""
    assert status(tm) is MonitorStatus.CHECKING
    results = await prober.probe_once()
    assert [(r.endpoint, r.ok, r.detail) for r in results] == [("westeurope", True, "status 200")]
    assert status(tm) is MonitorStatus.ONLINE
    assert status(tm, "centralus") is MonitorStatus.CHECKING
    assert west.requests_served == 1


async def test_failures_degrade_after_the_tolerated_count_and_one_success_recovers(
    azure: Any, tm: TrafficManagerEmulator, prober: Prober, west: RegionalOrigin
) -> None:
    """toleratedNumberOfFailures 3: Degraded on the 4th consecutive failure (docs/traffic-manager.md);
    the SDK sees endpoint and profile Degraded; one success brings it back Online."""
    await prober.probe_once()
    west.inject("error", status=503)
    for _ in range(3):
        (result,) = await prober.probe_once()
        assert (result.ok, result.detail) == (False, "status 503")
        assert status(tm) is MonitorStatus.ONLINE
    await prober.probe_once()
    assert status(tm) is MonitorStatus.DEGRADED

    client = azure.client()
    profile = await asyncio.to_thread(client.profiles.get, "blog", "blog")
    assert profile.monitor_config.profile_monitor_status == "Degraded"
    assert {e.name: e.endpoint_monitor_status for e in profile.endpoints}[
        "westeurope"
    ] == "Degraded"

    west.heal()
    await prober.probe_once()
    assert status(tm) is MonitorStatus.ONLINE


async def test_refused_connections_fail_at_once_with_zero_tolerance(
    tm: TrafficManagerEmulator, prober: Prober, west: RegionalOrigin
) -> None:
    patch_monitor(tm, toleratedNumberOfFailures=0)
    west.inject("refuse")
    (result,) = await prober.probe_once()
    assert not result.ok
    assert "ConnectionRefusedError" in result.detail
    assert status(tm) is MonitorStatus.DEGRADED


async def test_a_new_endpoint_stays_checking_until_it_is_judged(
    tm: TrafficManagerEmulator, prober: Prober, west: RegionalOrigin
) -> None:
    """Failures within the tolerance leave a never-seen-healthy endpoint CheckingEndpoint."""
    patch_monitor(tm, toleratedNumberOfFailures=1)
    west.inject("error", status=500)
    await prober.probe_once()
    assert status(tm) is MonitorStatus.CHECKING
    await prober.probe_once()
    assert status(tm) is MonitorStatus.DEGRADED


async def test_a_hung_origin_times_out(
    tm: TrafficManagerEmulator, prober: Prober, west: RegionalOrigin
) -> None:
    prober.timeout = 0.2
    west.inject("hang")
    started = time.monotonic()
    (result,) = await prober.probe_once()
    assert (result.ok, result.detail) == (False, "timeout after 0.2s")
    assert time.monotonic() - started < 2


async def test_disabled_endpoints_are_not_probed(
    tm: TrafficManagerEmulator, prober: Prober, west: RegionalOrigin
) -> None:
    tm.set_endpoint_status("westeurope", "Disabled")
    assert await prober.probe_once() == []
    assert west.requests_served == 0
    assert status(tm) is MonitorStatus.DISABLED


async def test_forced_statuses_are_left_alone(
    tm: TrafficManagerEmulator, prober: Prober, west: RegionalOrigin
) -> None:
    """The lab's admin hook wins over probing until released."""
    tm.force_monitor_status("westeurope", "Degraded")
    assert await prober.probe_once() == []
    assert status(tm) is MonitorStatus.DEGRADED
    tm.force_monitor_status("westeurope", None)
    await prober.probe_once()
    assert status(tm) is MonitorStatus.ONLINE


async def test_the_host_header_is_the_server_name(
    tm: TrafficManagerEmulator, west: RegionalOrigin, lab_ca: LabCA
) -> None:
    """With a verifying context the probe succeeds, so the server name sent was the custom
    Host header; with a wrong certificate only a verifying prober would notice."""
    verifying = Prober(tm.state, ssl_context=lab_ca.client_context())
    verifying.route(WEST, west.address, west.https_port)
    (result,) = await verifying.probe_once()
    assert result.ok, result.detail
    west.inject("wrong-cert")
    (result,) = await verifying.probe_once()
    assert not result.ok
    # Traffic Manager itself does not validate certificates: a wrong one still probes Online.
    tm.prober.route(WEST, west.address, west.https_port)
    (result,) = await tm.prober.probe_once()
    assert result.ok


class _PlainOrigin:
    """A plain-HTTP origin answering `status` and remembering what each request carried."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> _PlainOrigin:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Request):
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                    self.requests.append((event.target.decode(), headers))
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
            out = conn.send(
                h11.Response(status_code=self.status, headers=[("Content-Length", "0")])
            )
            writer.write((out or b"") + (conn.send(h11.EndOfMessage()) or b""))
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()


async def test_http_probes_send_the_configured_request_and_judge_the_status(
    tm_ca: trustme.CA,
) -> None:
    """GET of the monitor path with the custom headers; 301 fails (the default success is 200
    only)."""
    async with TrafficManagerEmulator(ca=tm_ca) as tm, _PlainOrigin() as origin:
        tm.seed_lab_profile(monitor_path="/healthz?region=westeurope")
        patch_monitor(tm, protocol="HTTP", port=origin.port, toleratedNumberOfFailures=0)
        tm.prober.route(WEST, "127.0.0.1")
        await tm.prober.probe_once()
        assert status(tm) is MonitorStatus.ONLINE
        path, headers = origin.requests[0]
        assert path == "/healthz?region=westeurope"
        assert headers["host"] == HOSTNAME
        assert headers["user-agent"] == "Azure Traffic Manager Endpoint Monitor"

        origin.status = 301
        (result,) = await tm.prober.probe_once()
        assert (result.ok, result.detail) == (False, "status 301")
        assert status(tm) is MonitorStatus.DEGRADED


async def test_an_endpoints_own_custom_headers_replace_the_profiles(tm_ca: trustme.CA) -> None:
    """An endpoint with custom headers of its own is probed with those, not the profile's
    (how each endpoint names its region to /healthz), and its resource lists them."""
    async with TrafficManagerEmulator(ca=tm_ca) as tm, _PlainOrigin() as origin:
        tm.seed_lab_profile(monitor_path="/healthz")
        patch_monitor(tm, protocol="HTTP", port=origin.port)
        headers = [
            {"name": "X-Regionwatch-Region", "value": "westeurope"},
            {"name": "Host", "value": "west.example.com"},
        ]
        tm.state.patch_endpoint(
            tm.subscription_id,
            "blog",
            "blog",
            "ExternalEndpoints",
            "westeurope",
            {"properties": {"customHeaders": headers}},
        )
        tm.prober.route(WEST, "127.0.0.1")
        await tm.prober.probe_once()
        _, sent = origin.requests[0]
        assert sent["x-regionwatch-region"] == "westeurope"
        assert sent["host"] == "west.example.com"
        endpoint = tm.profile().endpoint("westeurope")
        assert endpoint is not None
        assert tm.state.endpoint_json(tm.profile(), endpoint)["properties"]["customHeaders"] == (
            headers
        )


async def test_the_background_loop_probes_on_its_own(
    tm_ca: trustme.CA, west: RegionalOrigin
) -> None:
    """With a probe interval the emulator probes by itself (polled with a deadline)."""
    async with TrafficManagerEmulator(ca=tm_ca, probe_interval=0.05) as tm:
        tm.seed_lab_profile()
        tm.prober.route(WEST, west.address, west.https_port)
        deadline = time.monotonic() + 5
        while status(tm) is not MonitorStatus.ONLINE:
            assert time.monotonic() < deadline, "never probed"
            await asyncio.sleep(0.02)
        west.inject("error", status=502)
        while status(tm) is not MonitorStatus.DEGRADED:
            assert time.monotonic() < deadline, "never degraded"
            await asyncio.sleep(0.02)
        assert tm.prober.rounds >= 5


def test_only_loopback_routes_are_accepted(tm_ca: trustme.CA) -> None:
    prober = Prober(TrafficManagerEmulator(ca=tm_ca).state)
    with pytest.raises(ValueError, match="loopback"):
        prober.route(WEST, "10.0.0.1")
