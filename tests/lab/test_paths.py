"""Per-vantage-point paths on loopback: a region refuses, black-holes or slows the connections
of one source address (one vantage point) while answering every other as before."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from servers import serving

from lab.certs import LabCA
from lab.control import control_router
from lab.httpserver import PathCut
from lab.loopback import vantage_address
from lab.origin import RegionalOrigin
from monitor.clock import SystemClock
from monitor.config import HttpsRequest
from monitor.probes.https import HttpsProbe, HttpsTarget, build_ssl_context
from monitor.results import Outcome

HOSTNAME = "blog.example.com"
CUT, OTHER = "127.0.1.7", "127.0.1.8"

pytestmark = pytest.mark.skipif(
    vantage_address(0) is None, reason="needs 127.0.0.0/8 on loopback to tell paths apart"
)


@pytest.fixture
async def origin(lab_ca: LabCA) -> AsyncIterator[RegionalOrigin]:
    async with RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=lab_ca) as served:
        yield served


@pytest.fixture
def context(lab_ca_file: Path) -> ssl.SSLContext:
    return build_ssl_context(lab_ca_file)


async def probe(
    origin: RegionalOrigin, context: ssl.SSLContext, source: str, timeout: float = 2
) -> tuple[Outcome, str | None]:
    target = HttpsTarget(
        "westeurope", HOSTNAME, origin.address, origin.https_port, origin.http_port
    )
    result = await HttpsProbe(
        target,
        HttpsRequest(name="home"),
        ssl_context=context,
        timeout=timeout,
        clock=SystemClock(),
        source_address=source,
    ).probe()
    return result.outcome, result.reason


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        (PathCut.BLACKHOLE, "timed out"),
        (PathCut.REFUSE, "connection"),
        (PathCut.SLOW, "timed out"),
    ],
)
async def test_a_cut_path_fails_only_that_vantage_points_probes_until_restored(
    origin: RegionalOrigin, context: ssl.SSLContext, how: PathCut, reason: str
) -> None:
    """The cut vantage point's probe of the region fails (held, cut or too slow); another
    vantage point's succeeds; restoring the path heals the first."""
    origin.cut_path(CUT, how, delay=5)
    outcome, why = await probe(origin, context, CUT, timeout=0.5)
    assert outcome is Outcome.DOWN and why is not None and reason in why, why
    assert (await probe(origin, context, OTHER))[0] is Outcome.UP
    origin.restore_path(CUT)
    assert (await probe(origin, context, CUT))[0] is Outcome.UP


async def test_the_fault_panel_cuts_and_restores_a_path_by_vantage_point(
    origin: RegionalOrigin, context: ssl.SSLContext
) -> None:
    """`POST /lab/paths/{vantage}/{region}/cut` and `/restore`, by the vantage point's name;
    an unknown vantage point or region is a 404 naming the known ones."""
    app = FastAPI()
    app.include_router(
        control_router({"westeurope": origin}, vantage_points={"vp1": CUT, "vp2": OTHER})
    )
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        cut = await client.post("/lab/paths/vp1/westeurope/cut", json={"how": "refuse"})
        assert cut.json()["cut"] == {"westeurope": {CUT: {"how": "refuse"}}}
        assert (await probe(origin, context, CUT, timeout=0.5))[0] is Outcome.DOWN
        assert (await probe(origin, context, OTHER))[0] is Outcome.UP
        restored = await client.post("/lab/paths/vp1/westeurope/restore")
        assert restored.json()["cut"] == {}
        assert (await probe(origin, context, CUT))[0] is Outcome.UP
        unknown = await client.post("/lab/paths/vp9/westeurope/cut")
        assert unknown.status_code == 404 and "vp1, vp2" in unknown.text
        assert (await client.post("/lab/paths/vp1/nowhere/cut")).status_code == 404
