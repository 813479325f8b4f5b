"""Fixtures shared by the whole suite: the lab CA, loopback origins and configuration files."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

from lab.certs import LabCA
from lab.origin import RegionalOrigin

HOSTNAME = "blog.example.com"

# Bounded and deterministic in CI: no flakes from a slow machine or a new random seed.
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def lab_ca() -> LabCA:
    return LabCA()


@pytest.fixture(scope="session")
def lab_ca_file(lab_ca: LabCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lab_ca.write_ca_pem(tmp_path_factory.mktemp("ca") / "lab-ca.pem")


@pytest.fixture
async def two_regions(lab_ca: LabCA) -> AsyncIterator[dict[str, RegionalOrigin]]:
    """westeurope and centralus, healthy, on loopback."""
    async with (
        RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=lab_ca) as west,
        RegionalOrigin(region="centralus", hostname=HOSTNAME, ca=lab_ca) as central,
    ):
        yield {"westeurope": west, "centralus": central}


ConfigWriter = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path, lab_ca_file: Path) -> ConfigWriter:
    """Writes a configuration for the given origins; keyword arguments override sections."""

    def write(origins: dict[str, RegionalOrigin], **sections: Any) -> Path:
        config: dict[str, Any] = {
            "site": {"hostname": HOSTNAME},
            "regions": {
                name: {"address": o.address, "port": o.https_port, "http_port": o.http_port}
                for name, o in origins.items()
            },
            "tls": {"ca_file": str(lab_ca_file)},
            "checks": {
                "https": {
                    "interval": "1s",
                    "timeout": "1s",
                    "requests": [
                        {
                            "name": "home",
                            "path": "/",
                            "bypass_cache": "header",
                            "expect": {"status": [200], "body_contains": "<title>"},
                        },
                        {"name": "home-cached", "path": "/"},
                        {
                            "name": "admin-blocked",
                            "path": "/ghost",
                            "expect": {"status": [404]},
                            "on_failure": "alert",
                        },
                        {
                            "name": "https-redirect",
                            "scheme": "http",
                            "expect": {"status": [301, 308], "redirect_to_https": True},
                        },
                    ],
                }
            },
            "api": {"listen": "127.0.0.1:0"},
            "storage": {"path": str(tmp_path / "regionwatch.db")},
        }
        config.update(sections)
        path = tmp_path / "regionwatch.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    return write
