"""`/metrics` on a real socket: the app's own registry, read from the snapshot at scrape time,
its families equal to docs/metrics.md, and a read like any other."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fakepeer import FakePeer, fake_peer_serving
from servers import eventually, serving_service

from lab.origin import Fault, RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator
from monitor.config import load_config
from monitor.service import Service

ConfigWriter = Callable[..., Path]
DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
_ROW = re.compile(r"^\| `(regionwatch_[a-z_]+)` \| (\w+) \|", re.MULTILINE)


@pytest.fixture
async def running(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    path = write_config(two_regions)
    async with (
        serving_service(load_config(path)) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield service, client


def exposed_families(text: str) -> dict[str, str]:
    """Every family's name and type in an exposition, without the `_created` companions
    prometheus-client adds to counters and histograms."""
    return {
        name: kind
        for name, kind in _TYPE.findall(text)
        if not (name.endswith("_created") and kind == "gauge")
    }


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the series `name{labels}` in an exposition; None when it is absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if series.split("{")[0] == name and found == labels:
            return float(value)
    return None


async def test_metrics_families_equal_the_documented_ones(
    running: tuple[Service, httpx.AsyncClient],
) -> None:
    """Every family /metrics exposes has a row in docs/metrics.md with its type, and every
    row names a family that is exposed."""
    service, client = running
    await eventually(lambda: all(v.rounds_done >= 1 for v in service.snapshot.regions.values()))
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    documented = dict(_ROW.findall(DOC.read_text(encoding="utf-8")))
    assert exposed_families(response.text) == documented


async def test_metrics_follow_a_region_failing_from_the_snapshot(
    running: tuple[Service, httpx.AsyncClient], two_regions: dict[str, RegionalOrigin]
) -> None:
    """A region whose origin is down shows probe_success 0 and status failing, the other 1 and
    healthy; the certificate's expiry and the events counted are there too."""
    service, client = running
    two_regions["westeurope"].inject(Fault.ORIGIN_DOWN)

    async def failing_shown() -> bool:
        text = (await client.get("/metrics")).text
        return (
            sample(text, "regionwatch_region_status", region="westeurope", status="failing") == 1.0
            and sample(text, "regionwatch_region_status", region="centralus", status="healthy")
            == 1.0
        )

    await eventually(failing_shown)
    text = (await client.get("/metrics")).text
    assert sample(text, "regionwatch_probe_success", region="westeurope", check="home") == 0.0
    assert sample(text, "regionwatch_probe_success", region="centralus", check="home") == 1.0
    expiry = sample(
        text, "regionwatch_probe_ssl_earliest_cert_expiry", region="centralus", check="home"
    )
    assert expiry is not None
    assert expiry > service.clock.now().timestamp()
    failing = sample(text, "regionwatch_events_total", type="region.failing")
    assert failing is not None
    assert failing >= 1.0
    assert sample(text, "regionwatch_snapshot_version") == pytest.approx(
        service.snapshot.version, abs=1000
    )
    assert "regionwatch_engine_lag_seconds_count" in text


async def test_metrics_registry_is_per_app(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter, tmp_path: Path
) -> None:
    """Two apps in one process each expose their own series, and neither touches the
    process-wide default registry."""
    from prometheus_client import REGISTRY, generate_latest

    one = load_config(write_config(two_regions))
    other = load_config(write_config(two_regions, storage={"path": str(tmp_path / "other.db")}))
    async with (
        serving_service(one, schedule=False) as (first, _),
        serving_service(other, schedule=False) as (second, _),
        httpx.AsyncClient() as client,
    ):
        for url in (first, second):
            assert (await client.get(f"{url}/metrics")).status_code == 200
    assert b"regionwatch_" not in generate_latest(REGISTRY)


async def test_metrics_is_a_read_that_needs_the_read_token_when_set(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """With api.read_token set, /metrics answers 401 without a token, 403 with a wrong one,
    and 200 with the read token."""
    path = write_config(two_regions, api={"listen": "127.0.0.1:0", "read_token": "scrape-me"})
    async with (
        serving_service(load_config(path), schedule=False) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        assert wrong.json()["error"] == "forbidden"
        right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert right.status_code == 200


async def test_metrics_show_the_monitor_blind_to_traffic_manager_until_it_reads_again(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three failed Traffic Manager reads open `blind/traffic-manager`, exposed as
    `regionwatch_blind{source="traffic-manager"} 1`; the next good read closes it and the
    series goes away."""
    for key, value in seeded.environment().items():
        monkeypatch.setenv(key, value)
    path = write_config(two_regions, traffic_manager=seeded.config_section(interval="1h"))
    async with (
        serving_service(load_config(path), schedule=False) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        await service.read_traffic_manager()
        seen = (await client.get("/metrics")).text
        assert sample(seen, "regionwatch_blind", source="traffic-manager") is None
        seeded.faults.add(method="GET", path_contains="trafficmanagerprofiles", status=403, count=3)
        for _ in range(3):
            await service.read_traffic_manager()
        await service.engine.settle()
        blind = (await client.get("/metrics")).text
        assert sample(blind, "regionwatch_blind", source="traffic-manager") == 1.0
        await service.read_traffic_manager()
        await service.engine.settle()
        again = (await client.get("/metrics")).text
        assert sample(again, "regionwatch_blind", source="traffic-manager") is None


async def test_metrics_show_each_peer_up_its_state_and_its_observations_age(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A peer whose observations count is up (state fresh, an age per region it reported);
    one that refuses our token is down (state unauthenticated, no ages), as /api/v1/peers."""
    fresh = FakePeer("vp2", "vp2-token", {"westeurope": "healthy", "centralus": "healthy"})
    refusing = FakePeer("vp3", "vp3-token")
    async with fake_peer_serving(fresh) as fresh_url, fake_peer_serving(refusing) as refusing_url:
        peers = [
            {"name": "vp2", "url": fresh_url, "token": "vp2-token"},
            {"name": "vp3", "url": refusing_url, "token": "not-vp3-token"},
        ]
        path = write_config(two_regions, vantage="decider", peers=peers)
        async with (
            serving_service(load_config(path)) as (url, _),
            httpx.AsyncClient(base_url=url) as client,
        ):

            async def both_judged() -> bool:
                text = (await client.get("/metrics")).text
                return (
                    sample(text, "regionwatch_peer_up", peer="vp2") == 1.0
                    and sample(text, "regionwatch_peer_up", peer="vp3") == 0.0
                )

            await eventually(both_judged)
            text = (await client.get("/metrics")).text
            assert sample(text, "regionwatch_peer_state", peer="vp2", state="fresh") == 1.0
            assert (
                sample(text, "regionwatch_peer_state", peer="vp3", state="unauthenticated") == 1.0
            )
            assert sample(text, "regionwatch_peer_state", peer="vp3", state="fresh") is None
            for region in ("westeurope", "centralus"):
                age = sample(
                    text, "regionwatch_peer_observation_age_seconds", peer="vp2", region=region
                )
                assert age is not None
                assert 0.5 <= age < 5.0  # reported 0.5 s, plus the time since it arrived
                assert (
                    sample(
                        text, "regionwatch_peer_observation_age_seconds", peer="vp3", region=region
                    )
                    is None
                )
            assert 'regionwatch_peer_observation_age_seconds{peer="decider"' not in text
            listed = (await client.get("/api/v1/peers")).json()["peers"]
            assert {p["name"]: p["counted"] for p in listed} == {"vp2": True, "vp3": False}
