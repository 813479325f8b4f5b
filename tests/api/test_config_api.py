"""`GET /api/v1/config` on a real socket: the effective configuration, every secret hidden."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from servers import serving_service

from lab.origin import RegionalOrigin
from monitor.config import load_config

ConfigWriter = Callable[..., Path]

WRITE_TOKEN = "write-7f3a9c1e5b"
READ_TOKEN = "read-4d8e2b6a0c"
ALERT_PATH_SECRET = "T0SECRET/B0SECRET/hookpart9x8y"
ALERT_SECRET = "alert-signing-2c4e6g"
PEER_TOKEN = "peer-token-1a3b5c7d"
ROUTING_KEY = "pd-routing-9z8y7x6w"
HEARTBEAT_SECRET = "hb-check-5v4u3t"
HEADER_SECRET = "Basic cHJvYmU6aHVudGVyMg=="
DOH_SECRET = "doh-apikey-0z9y8x"
FROM_ENV = "env-sourced-5k6l7m8n"


async def test_config_shows_the_effective_configuration_with_every_secret_hidden(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Tokens, alert secrets and webhook paths, credential headers, URL credentials and values
    from the environment never appear; the rest is there, defaults filled in, durations as in
    the file, and `hidden` names what was hidden."""
    path = write_config(
        two_regions,
        api={"listen": "127.0.0.1:0", "token": WRITE_TOKEN, "read_token": "${READ}"},
        alerts=[
            {
                "name": "ops",
                "type": "webhook",
                "url": f"https://hooks.example.com/services/{ALERT_PATH_SECRET}",
                "secret": ALERT_SECRET,
            },
            {"name": "pager", "type": "pagerduty", "routing_key": ROUTING_KEY},
        ],
        alerting={"heartbeat": {"url": f"https://hc.example.com/ping/{HEARTBEAT_SECRET}"}},
        vantage="eu",
        # Refused on loopback: the pull fails, its error is swept for the token too.
        peers=[{"name": "us", "url": "https://127.0.0.1:9", "token": PEER_TOKEN}],
    )
    config = load_config(path, env={"READ": READ_TOKEN})
    assert config.api.read_token == READ_TOKEN
    async with (
        serving_service(config, schedule=False) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        response = await client.get(
            "/api/v1/config", headers={"Authorization": f"Bearer {READ_TOKEN}"}
        )
    assert response.status_code == 200
    for secret in (
        WRITE_TOKEN,
        READ_TOKEN,
        ALERT_PATH_SECRET,
        ALERT_SECRET,
        PEER_TOKEN,
        ROUTING_KEY,
        HEARTBEAT_SECRET,
    ):
        assert secret not in response.text
    body = response.json()
    shown = body["configuration"]
    assert shown["api"]["token"] == "***"
    assert shown["api"]["read_token"] == "***"
    assert shown["alerts"][0]["url"] == "https://hooks.example.com/***"
    assert shown["alerts"][0]["secret"] == "***"
    assert shown["alerts"][1]["routing_key"] == "***"
    assert shown["alerting"]["heartbeat"]["url"] == "https://hc.example.com/***"
    assert shown["peers"][0]["token"] == "***"
    assert set(body["hidden"]) >= {
        "api.token",
        "api.read_token",
        "alerts[].url",
        "alerts[].secret",
        "alerts[].routing_key",
        "alerting.heartbeat.url",
        "peers[].token",
    }
    assert shown["failover"]["mode"] == "dry-run"
    assert shown["failover"]["deploy_window"] == "30m"
    assert shown["checks"]["https"]["interval"] == "1s"
    assert shown["regions"]["westeurope"]["address"] == two_regions["westeurope"].address
    assert shown["api"]["local_region"] is None


async def test_config_hides_credential_headers_url_credentials_and_environment_values(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter, tmp_path: Path
) -> None:
    """A probe's Authorization header, a DoH URL's userinfo and query, and a value taken from
    the environment are hidden; the environment's shows as its `${NAME}`."""
    requests = [
        {
            "name": "home",
            "path": "/",
            "headers": {"Authorization": HEADER_SECRET, "Accept": "text/html"},
        }
    ]
    path = write_config(
        two_regions,
        checks={
            "https": {"interval": "1s", "timeout": "1s", "requests": requests},
            "dns": {
                "resolvers": [
                    {
                        "name": "doh",
                        "protocol": "doh",
                        "url": f"https://user:{DOH_SECRET}@127.0.0.1:8443/dns-query?key={DOH_SECRET}",
                    }
                ]
            },
        },
        storage={"path": str(tmp_path / "${DATA}" / "regionwatch.db")},
    )
    (tmp_path / FROM_ENV).mkdir()
    config = load_config(path, env={"DATA": FROM_ENV})
    async with (
        serving_service(config, schedule=False) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        response = await client.get("/api/v1/config")
    assert response.status_code == 200
    for secret in (HEADER_SECRET, DOH_SECRET, FROM_ENV):
        assert secret not in response.text
    shown = response.json()["configuration"]
    headers = shown["checks"]["https"]["requests"][0]["headers"]
    assert headers == {"Authorization": "***", "Accept": "text/html"}
    resolver = shown["checks"]["dns"]["resolvers"][0]
    assert resolver["url"] == "https://***@127.0.0.1:8443/dns-query?key=***"
    assert shown["storage"]["path"] == str(tmp_path / "${DATA}" / "regionwatch.db")
    assert json.loads(response.text) == response.json()
