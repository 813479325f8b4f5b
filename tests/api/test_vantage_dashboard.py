"""The dashboard's Vantage points panel on an observer, served by the real app: whose
decisions its /healthz repeats, as /healthz itself answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from fakepeer import FakePeer, fake_peer_serving
from servers import eventually, serving_service

from lab.origin import RegionalOrigin
from monitor.config import load_config

ConfigWriter = Callable[..., Path]
READ = "observer-read-token"


async def test_an_observers_panel_names_the_decider_its_healthz_repeats_until_it_goes_away(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """An observer's panel names the decider whose decisions /healthz repeats (westeurope 503
    as the decider decided); once the decider answers 503 for two intervals, it says the
    decider is unreachable and /healthz answers 200."""
    decider = FakePeer(
        "eu",
        "decider-token",
        {"westeurope": "healthy", "centralus": "healthy"},
        role="decider",
        serve={"westeurope": False, "centralus": True},
    )
    async with fake_peer_serving(decider) as decider_url:
        path = write_config(
            two_regions,
            vantage="us",
            role="observer",
            peers=[{"name": "eu", "url": decider_url, "token": "decider-token"}],
            api={"listen": "127.0.0.1:0", "read_token": READ},
        )
        async with (
            serving_service(load_config(path)) as (url, _),
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {READ}"}) as client,
        ):

            async def panel() -> str:
                return (await client.get("/dashboard/fragment")).text

            async def repeating() -> bool:
                return 'data-decider="eu"' in await panel()

            await eventually(repeating)
            assert "repeats the decisions of the decider at vantage point <strong>eu</strong>" in (
                await panel()
            )
            assert (await client.get("/healthz?region=westeurope")).status_code == 503
            decider.status = 503

            async def unreachable() -> bool:
                return 'data-decider="unreachable"' in await panel()

            await eventually(unreachable)
            assert "Decider unreachable: /healthz answers 200" in await panel()
            assert (await client.get("/healthz?region=westeurope")).status_code == 200
