"""The dashboard's Alerts panel in chromium: a real service on loopback whose only alert channel
is refused by its receiver shows the dead letter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from alertreceiver import Answer, receiving
from browserlab import Watched, until
from servers import Hold, served_in_thread, serving_service

from lab.certs import LabCA
from lab.origin import RegionalOrigin
from lab.sandbox import MODEL_REQUESTS
from monitor.config import load_config

pytestmark = pytest.mark.slow

HOSTNAME = "blog.example.com"
TOKEN = "panel-token-0123456789"


@pytest.fixture(scope="module")
def refused(lab_ca: LabCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A service watching one lab origin, with a webhook channel whose receiver answers 400,
    in a thread with its own event loop; yields its base URL."""
    workdir: Path = tmp_path_factory.mktemp("alerts-panel")
    ca_file = lab_ca.write_ca_pem(workdir / "lab-ca.pem")

    async def serve(hold: Hold) -> None:
        async with (
            RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=lab_ca) as west,
            receiving() as receiver,
        ):
            receiver.script.extend([Answer(400)] * 50)
            config: dict[str, Any] = {
                "site": {"hostname": HOSTNAME},
                "regions": {
                    "westeurope": {
                        "address": west.address,
                        "port": west.https_port,
                        "http_port": west.http_port,
                    }
                },
                "tls": {"ca_file": str(ca_file)},
                "checks": {
                    "https": {"interval": "1s", "timeout": "1s", "requests": MODEL_REQUESTS}
                },
                "api": {"listen": "127.0.0.1:0", "token": TOKEN},
                "storage": {"path": str(workdir / "regionwatch.db")},
                "alerts": [
                    {"name": "ops", "type": "webhook", "url": receiver.url, "min_severity": "info"}
                ],
            }
            path = workdir / "regionwatch.yaml"
            path.write_text(yaml.safe_dump(config), encoding="utf-8")
            async with serving_service(load_config(path)) as (url, _):
                await hold(url)

    with served_in_thread(serve, name="alerts-panel-server") as url:
        yield url


def test_the_alerts_panel_shows_a_dead_letter(refused: str, watched: Watched) -> None:
    """A deploy's alert refused by the receiver appears in the Alerts panel as a dead letter,
    its channel failing, with the command that resends it."""
    with httpx.Client(base_url=refused, timeout=5) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        answer = client.post(
            "/api/v1/deploys", json={"region": "westeurope", "version": "2.0.0"}, headers=auth
        )
        assert answer.status_code == 201, answer.text

        def dead() -> bool:
            found = client.get("/api/v1/alerts/dead-letters").json()["dead_letters"]
            return any(d["event"]["type"] == "deploy.recorded" for d in found)

        until(dead, timeout=10, what="the deploy's alert dead-lettered")
    page = watched.page
    page.goto(refused + "/")
    letter = page.locator(
        '[data-section="alerts"] li[data-dead-letter][data-region="westeurope"]'
    ).filter(has_text="deploy.recorded")
    letter.wait_for(timeout=15_000)
    assert "HTTP 400" in letter.inner_text()
    assert (
        page.locator('[data-section="alerts"] tr[data-channel="ops"]').get_attribute("data-health")
        == "failing"
    )
    letter.locator("summary").click()
    assert "/resend" in letter.locator("code").inner_text()
    assert watched.errors == []
