"""`GET /api/v1/observations`: always behind a token, this instance's latest verdicts with
their ages, in the document its peers parse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from servers import eventually, serving_service

from lab.origin import RegionalOrigin
from monitor.config import load_config
from monitor.observations import parse

READ = "observer-read-t0ken"


async def test_an_observer_serves_its_observations_only_with_its_token(
    write_config: Callable[..., Path], two_regions: dict[str, RegionalOrigin]
) -> None:
    """No token: 401; a wrong one: 403; its read token: the document, which a peer parses,
    tagged with its vantage point, each region with the age of its verdict."""
    path = write_config(
        two_regions,
        api={"listen": "127.0.0.1:0", "read_token": READ},
        role="observer",
        vantage="vp2",
        peers=[{"name": "vp1", "url": "http://127.0.0.1:9", "token": "t"}],
    )
    config = load_config(path)
    async with serving_service(config) as (url, service), httpx.AsyncClient(base_url=url) as client:
        await eventually(lambda: all(v.rounds_done for v in service.snapshot.regions.values()))
        assert (await client.get("/api/v1/observations")).status_code == 401
        wrong = await client.get("/api/v1/observations", headers={"Authorization": "Bearer no"})
        assert wrong.status_code == 403
        answer = await client.get(
            "/api/v1/observations", headers={"Authorization": f"Bearer {READ}"}
        )
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        document = parse(body)
        assert (document.vantage, document.role) == ("vp2", "observer")
        assert set(document.observations) == {"westeurope", "centralus"}
        assert all(0 <= o.age < 10 for o in document.observations.values())
        assert body["decisions"] is None  # an observer decides nothing


async def test_without_a_read_token_observations_are_off(
    write_config: Callable[..., Path], two_regions: dict[str, RegionalOrigin]
) -> None:
    """A decider with no token configured never serves its observations, even on loopback."""
    config = load_config(write_config(two_regions, api={"listen": "127.0.0.1:0"}))
    async with serving_service(config, schedule=False) as (url, _), httpx.AsyncClient() as client:
        answer = await client.get(
            f"{url}/api/v1/observations", headers={"Authorization": "Bearer x"}
        )
        assert answer.status_code == 403
        assert "no api.read_token is configured" in answer.json()["detail"]
