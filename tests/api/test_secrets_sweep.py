"""No secret in any answer: every GET route of the OpenAPI document, and the pages and probes
outside it, swept on a running service whose configuration and environment hold distinctive
secrets (the API's tokens, an alert's secret and webhook path, a peer's token, Azure's client
secret), after it has read Traffic Manager, run rounds and recorded deploys, controls and
events."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from servers import eventually, serving_service

from lab.origin import RegionalOrigin
from lab.trafficmanager.server import TrafficManagerEmulator
from monitor.config import load_config

WRITE_TOKEN = "sweep-write-9d2f7a41c3"
READ_TOKEN = "sweep-read-5e8b1c06f4"
ALERT_SECRET = "sweep-alert-3a7c9e1b5d"
WEBHOOK_PATH = "sweep-hook-8f2d4b6a0e"
PEER_TOKEN = "sweep-peer-1c3e5a7b9d"
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
WRITE = {"Authorization": f"Bearer {WRITE_TOKEN}"}
# Outside the OpenAPI document: the probes answered before routing, the dashboard's pages.
EXTRA = ("/", "/healthz", "/healthz?region=westeurope", "/readyz", "/livez", "/metrics")
_PARAM = re.compile(r"\{(\w+)\}")


def secrets_of(environment: dict[str, str]) -> list[str]:
    return [
        WRITE_TOKEN,
        READ_TOKEN,
        ALERT_SECRET,
        WEBHOOK_PATH,
        PEER_TOKEN,
        environment["AZURE_CLIENT_SECRET"],
    ]


def get_paths(openapi: dict[str, Any], values: dict[str, str]) -> list[str]:
    """Every GET path of the document, its path parameters filled from `values`."""
    paths = []
    for template, operations in openapi["paths"].items():
        if "get" in operations:
            paths.append(_PARAM.sub(lambda m: values.get(m.group(1), "unknown"), template))
    return paths


def streams(openapi: dict[str, Any], path: str) -> bool:
    """Whether the documented answer of `path` is an event stream (never ends by itself)."""
    operation = openapi["paths"].get(path, {}).get("get", {})
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    return "text/event-stream" in content or path.endswith("/stream")


async def test_no_route_answers_a_token_credential_or_secret(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No body or header of any GET route (every one in the OpenAPI document, with its path
    parameters filled, plus /, /healthz, /readyz, /livez, /metrics) and no log event holds any
    configured token, alert secret, webhook path, peer token or Azure's client secret; and
    none of them answers a 5xx."""
    environment = seeded.environment()
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    path: Path = write_config(
        two_regions,
        traffic_manager=seeded.config_section(),
        api={"listen": "127.0.0.1:0", "token": WRITE_TOKEN, "read_token": READ_TOKEN},
        alerts=[
            {
                "name": "ops",
                "type": "webhook",
                "url": f"http://127.0.0.1:1/{WEBHOOK_PATH}",  # refused: failing alerts, swept too
                "secret": ALERT_SECRET,
            }
        ],
        vantage="eu",
        # Refused on loopback: the pull fails, its error is swept for the token too.
        peers=[{"name": "us", "url": "https://127.0.0.1:9", "token": PEER_TOKEN}],
    )
    swept: dict[str, httpx.Response] = {}
    streamed: set[str] = set()
    with structlog.testing.capture_logs() as logs:
        async with (
            serving_service(load_config(path)) as (url, service),
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            await eventually(lambda: service.snapshot.ready)
            await eventually(
                lambda: (
                    service.snapshot.traffic_manager is not None
                    and service.snapshot.traffic_manager.profile is not None
                )
            )
            for body, route in (
                ({"region": "westeurope", "version": "2.0.0"}, "/api/v1/deploys"),
                ({"region": "centralus", "reason": "upgrade", "for": "1h"}, "/api/v1/silences"),
                ({"reason": "investigating", "for": "1h"}, "/api/v1/regions/westeurope/pin"),
                ({"reason": "checking", "by": "alice"}, "/api/v1/regions/westeurope/disable"),
            ):
                answer = await client.post(route, json=body, headers=WRITE)
                assert answer.status_code < 300, answer.text
            actions = (await client.get("/api/v1/actions", headers=READ)).json()["actions"]
            silences = (await client.get("/api/v1/silences", headers=READ)).json()["controls"]
            openapi = (await client.get("/openapi.json")).json()
            values = {
                "name": "westeurope",
                "id": actions[0]["id"] if actions else silences[0]["id"],
            }
            for route in [*get_paths(openapi, values), *EXTRA, "/openapi.json", "/docs"]:
                if streams(openapi, route):
                    async with client.stream("GET", route, headers=READ) as response:
                        swept[route] = response  # the head only: the body never ends
                    streamed.add(route)
                    continue
                swept[route] = await client.get(route, headers=READ)
    assert "/api/v1/config" in swept
    assert "/api/v1/regions/westeurope" in swept
    assert len(swept) >= 20
    secrets = secrets_of(environment)
    for route, response in swept.items():
        assert response.status_code < 500, f"{route}: {response.status_code}"
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        body = "" if route in streamed else response.text
        for secret in secrets:
            assert secret not in headers, f"{route} answers a secret in a header"
            assert secret not in body, f"{route} answers a secret in its body"
    logged = repr(logs)
    for secret in secrets:
        assert secret not in logged
