"""The dashboard's Vantage points panel in chromium: a real service on loopback (vantage point
vp1) whose peers are loopback doubles answering observations documents the test writes: vp2
fresh, vp3 gone (503)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from browserlab import Watched, until
from fakepeer import FakePeer, fake_peer_serving
from servers import Hold, served_in_thread, serving_service

from lab.certs import LabCA
from lab.origin import Fault, RegionalOrigin
from lab.sandbox import MODEL_REQUESTS
from monitor.config import load_config

pytestmark = pytest.mark.slow

HOSTNAME = "blog.example.com"


@dataclass
class Watching:
    url: str
    peers: dict[str, FakePeer]


@pytest.fixture(scope="module")
def watching(lab_ca: LabCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watching]:
    """A decider at vp1 watching two lab origins, westeurope refusing connections (a network
    failure, seen only from here); its peers vp2 (fresh, both regions healthy) and vp3
    (answering 503), pulled every second. In a thread with its own event loop."""
    workdir: Path = tmp_path_factory.mktemp("vantage-panel")
    ca_file = lab_ca.write_ca_pem(workdir / "lab-ca.pem")
    peers = {
        "vp2": FakePeer("vp2", "vp2-token", {"westeurope": "healthy", "centralus": "healthy"}),
        "vp3": FakePeer("vp3", "vp3-token", status=503),
    }

    async def serve(hold: Hold) -> None:
        async with (
            RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=lab_ca) as west,
            RegionalOrigin(region="centralus", hostname=HOSTNAME, ca=lab_ca) as central,
            fake_peer_serving(peers["vp2"]) as vp2,
            fake_peer_serving(peers["vp3"]) as vp3,
        ):
            west.inject(Fault.REFUSE)
            config: dict[str, Any] = {
                "site": {"hostname": HOSTNAME},
                "regions": {
                    o.region: {"address": o.address, "port": o.https_port, "http_port": o.http_port}
                    for o in (west, central)
                },
                "tls": {"ca_file": str(ca_file)},
                "checks": {
                    "https": {"interval": "1s", "timeout": "1s", "requests": MODEL_REQUESTS}
                },
                "failover": {"failing_rounds_without_deploy": 2},
                "api": {"listen": "127.0.0.1:0"},
                "storage": {"path": str(workdir / "regionwatch.db")},
                "vantage": "vp1",
                "peers": [
                    {"name": "vp2", "url": vp2, "token": "vp2-token"},
                    {"name": "vp3", "url": vp3, "token": "vp3-token"},
                ],
            }
            path = workdir / "regionwatch.yaml"
            path.write_text(yaml.safe_dump(config), encoding="utf-8")
            async with serving_service(load_config(path)) as (url, _):
                await hold(url)

    with served_in_thread(serve, name="vantage-panel-server") as url:
        with httpx.Client(base_url=url, timeout=5) as client:

            def judged() -> bool:
                regions = client.get("/api/v1/regions").json()["regions"]
                return {r["name"]: r["policy"]["state"] for r in regions} == {
                    "westeurope": "inconclusive",
                    "centralus": "serving",
                }

            until(judged, timeout=20, what="westeurope inconclusive, centralus serving")
        yield Watching(url, peers)


def test_the_panel_shows_this_instance_first_a_fresh_peer_and_an_absent_one(
    watching: Watching, watched: Watched
) -> None:
    """The matrix has vp1's row first (westeurope failing, a transport failure), vp2's fresh
    row (both regions healthy, counted) and vp3's row without verdicts; the peers' table says
    vp2 fresh and vp3 unreachable with why; westeurope's card names 1 of 3 vantage points."""
    page = watched.page
    page.goto(watching.url + "/")
    panel = page.locator('[data-section="vantage-points"]')
    panel.wait_for(timeout=15_000)
    rows = panel.locator("table.vantage tbody tr")
    assert [rows.nth(i).get_attribute("data-vantage") for i in range(rows.count())] == [
        "vp1",
        "vp2",
        "vp3",
    ]
    here = panel.locator('tr[data-vantage="vp1"] td[data-region="westeurope"]')
    assert here.get_attribute("data-status") == "failing"
    assert "transport" in here.inner_text()
    fresh = panel.locator('tr[data-vantage="vp2"] td[data-region="westeurope"]')
    assert fresh.get_attribute("data-status") == "healthy"
    assert fresh.get_attribute("data-counted") == "true"
    assert "not counted" not in fresh.inner_text()
    absent = panel.locator('tr[data-vantage="vp3"]')
    assert absent.get_attribute("data-peer-state") == "unreachable"
    assert absent.locator("td[data-status]").count() == 0
    vp2 = panel.locator('table.peers tr[data-peer="vp2"]')
    assert (vp2.get_attribute("data-state"), vp2.get_attribute("data-counted")) == (
        "fresh",
        "true",
    )
    assert "observer" in vp2.inner_text()
    vp3 = panel.locator('table.peers tr[data-peer="vp3"]')
    assert vp3.get_attribute("data-state") == "unreachable"
    assert "HTTP 503" in vp3.inner_text()
    assert "never" in vp3.inner_text()
    reason = page.locator('article[data-region="westeurope"] [data-policy="inconclusive"]')
    assert "1 of 3 vantage points" in reason.inner_text()
    assert watched.errors == []


def test_the_panel_updates_live_when_a_peer_goes_away(watching: Watching, watched: Watched) -> None:
    """With the page open, vp2 starting to answer 503 turns its row unreachable and its last
    verdicts "not counted", without a reload."""
    page = watched.page
    page.goto(watching.url + "/")
    row = page.locator('[data-section="vantage-points"] tr[data-vantage="vp2"]')
    row.wait_for(timeout=15_000)
    assert row.get_attribute("data-peer-state") == "fresh"
    page.evaluate("window.__same_page = true")
    peer = watching.peers["vp2"]
    peer.status = 503
    try:
        page.wait_for_selector(
            '[data-section="vantage-points"] tr[data-vantage="vp2"][data-peer-state="unreachable"]',
            timeout=15_000,
        )
        cell = row.locator('td[data-region="centralus"]')
        assert cell.get_attribute("data-counted") == "false"
        assert "not counted" in cell.inner_text()
        peer_row = page.locator('table.peers tr[data-peer="vp2"]')
        assert "HTTP 503" in peer_row.inner_text()
        assert page.evaluate("window.__same_page") is True  # swapped in live, not reloaded
    finally:
        peer.status = 200
    assert watched.errors == []
