"""`regionwatch lab`: the model deployment on loopback, and the service watching it.

Two regional origins (westeurope, centralus) with a lab CA, a Traffic Manager emulator with
the model's Geographic profile (Europe → westeurope, the world → centralus) probing them, a
generated configuration a newcomer can read and reuse, the service with its API, and the
fault panel under /lab, all in one process. Everything lives in a temporary folder that is
removed on exit.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from api.app import create_app
from lab.certs import LabCA
from lab.control import control_router
from lab.faults import Fault
from lab.loopback import loopback_address
from lab.origin import RegionalOrigin
from lab.resolvers import DEFAULT_TLS_NAME, LAB_SUBNETS, LabResolver, server_context
from lab.serving import serving
from lab.trafficmanager import TrafficManagerEmulator
from monitor.config import Config, load_config
from monitor.durations import format_duration
from monitor.service import Service

__all__ = [
    "LAB_HOSTNAME",
    "LAB_REGIONS",
    "MODEL_REQUESTS",
    "LabSettings",
    "Sandbox",
    "run_lab",
]

LAB_HOSTNAME = "blog.example.com"
LAB_REGIONS = ("westeurope", "centralus")
# The geographies the lab's resolvers stand for (subnets the emulator places in GB and the US).
LAB_GEOGRAPHIES = {"eu": LAB_SUBNETS["eu"], "us": LAB_SUBNETS["us"]}

# The model deployment's requests: the origin path (bypassing the cache), the page readers
# get (STALE there means Ghost is down), the editor that must stay hidden, and the redirect.
MODEL_REQUESTS: list[dict[str, Any]] = [
    {
        "name": "home",
        "path": "/",
        "bypass_cache": "header",
        "expect": {"status": [200], "body_contains": "<title>"},
    },
    {
        "name": "home-cached",
        "path": "/",
        "expect": {
            "status": [200],
            "headers_present": ["Strict-Transport-Security"],
        },
    },
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
]


@dataclass(frozen=True, slots=True)
class LabSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    interval: timedelta = timedelta(seconds=5)


class Sandbox:
    """The regional origins, their CA and the configuration that points the service at them."""

    def __init__(self, workdir: Path, settings: LabSettings) -> None:
        self.workdir = workdir
        self.settings = settings
        self.ca = LabCA()
        self.origins: dict[str, RegionalOrigin] = {}
        self.config_path = workdir / "regionwatch.yaml"
        self.ca_path = workdir / "lab-ca.pem"
        # Traffic Manager probes on its own clock; the lab's is as fast as the service's.
        self.traffic_manager = TrafficManagerEmulator(
            probe_interval=settings.interval.total_seconds(), workdir=workdir, ca=self.ca.authority
        )
        self.resolvers: dict[str, LabResolver] = {}

    async def start(self) -> Config:
        self.ca.write_ca_pem(self.ca_path)
        for index, region in enumerate(LAB_REGIONS):
            origin = RegionalOrigin(
                region=region, hostname=LAB_HOSTNAME, ca=self.ca, address=loopback_address(index)
            )
            await origin.start()
            self.origins[region] = origin
        tm = self.traffic_manager
        await tm.start()
        tm.seed_lab_profile(targets={name: o.address for name, o in self.origins.items()})
        for origin in self.origins.values():
            tm.prober.route(origin.address, origin.address, origin.https_port)
        # One resolver per geography, answering the site's name through Traffic Manager's DNS;
        # DoT and DoH with the lab CA, so every transport of the DNS check has a peer.
        tls = server_context(self.ca.authority)
        for name, subnet in LAB_GEOGRAPHIES.items():
            resolver = LabResolver(
                name, subnet=subnet, upstream=("127.0.0.1", tm.dns_port), tls=tls
            )
            await resolver.start()
            self.resolvers[name] = resolver
        self.config_path.write_text(self._config_yaml(), encoding="utf-8")
        return load_config(self.config_path)

    def _dns_checks(self) -> dict[str, Any]:
        eu, us = self.resolvers["eu"], self.resolvers["us"]
        return {
            "interval": format_duration(self.settings.interval),
            "timeout": "1s",
            "resolvers": [
                {
                    "name": "eu",
                    "address": eu.address,
                    "port": eu.port,
                    "expect_region": "westeurope",
                },
                {
                    "name": "us",
                    "address": us.address,
                    "port": us.port,
                    "expect_region": "centralus",
                },
                {
                    "name": "eu-dot",
                    "protocol": "dot",
                    "address": eu.address,
                    "port": eu.dot_port,
                    "tls_hostname": DEFAULT_TLS_NAME,
                    "expect_region": "westeurope",
                },
                {
                    "name": "us-doh",
                    "protocol": "doh",
                    "url": us.doh_url,
                    "expect_region": "centralus",
                },
            ],
            "vantage_points": [
                {
                    "name": "europe",
                    "client_subnet": LAB_GEOGRAPHIES["eu"],
                    "expect_region": "westeurope",
                },
                {
                    "name": "america",
                    "client_subnet": LAB_GEOGRAPHIES["us"],
                    "expect_region": "centralus",
                },
            ],
        }

    def identity(self) -> dict[str, str]:
        """The environment DefaultAzureCredential reads, for the emulator's contributor. The
        chain is held to the environment credential: nothing tries a managed identity."""
        tm = self.traffic_manager
        return {
            "AZURE_TENANT_ID": tm.tenant_id,
            "AZURE_CLIENT_ID": tm.client_id,
            "AZURE_CLIENT_SECRET": tm.client_secret,
            "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
        }

    async def stop(self) -> None:
        for resolver in self.resolvers.values():
            await resolver.stop()
        await self.traffic_manager.stop()
        for origin in self.origins.values():
            await origin.stop()

    def _config_yaml(self) -> str:
        interval = self.settings.interval
        timeout = min(interval, timedelta(seconds=3))
        config: dict[str, Any] = {
            "site": {"hostname": LAB_HOSTNAME},
            "regions": {
                name: {"address": o.address, "port": o.https_port, "http_port": o.http_port}
                for name, o in self.origins.items()
            },
            "tls": {"ca_file": self.ca_path.name},
            "checks": {
                "https": {
                    "interval": format_duration(interval),
                    "timeout": format_duration(timeout),
                    "requests": MODEL_REQUESTS,
                },
                "dns": self._dns_checks(),
            },
            "traffic_manager": {
                "interval": format_duration(interval),
                "subscription_id": self.traffic_manager.subscription_id,
                "resource_group": self.traffic_manager.resource_group,
                "profile": "blog",
                "resource_manager_url": self.traffic_manager.base_url,
                "authority_host": self.traffic_manager.base_url,
                "ca_file": str(self.traffic_manager.ca_file),
            },
            "api": {"listen": f"{self.settings.host}:{self.settings.port}"},
            "storage": {"path": "regionwatch.db", "retention": "1d"},
        }
        header = "# Generated by `regionwatch lab` for its loopback sandbox.\n"
        return header + yaml.safe_dump(config, sort_keys=False)


def banner(sandbox: Sandbox, base_url: str) -> str:
    """What to look at and what to try, printed once the lab is up."""
    lines = [
        f"regionwatch lab: two regions of {LAB_HOSTNAME} on loopback, probed every "
        f"{format_duration(sandbox.settings.interval)}.",
        "",
        f"  status page    {base_url}/",
        f"  regions (JSON) {base_url}/api/v1/regions",
        f"  API docs       {base_url}/docs",
        f"  fault panel    {base_url}/lab",
    ]
    for name, origin in sandbox.origins.items():
        lines.append(
            f"  {name:<14} https://{origin.address}:{origin.https_port}  (http {origin.http_port})"
        )
    tm = sandbox.traffic_manager
    lines.append(
        f"  traffic mgr    {tm.base_url}  (profile blog; its DNS on 127.0.0.1:{tm.dns_port})"
    )
    for name, resolver in sandbox.resolvers.items():
        lines.append(
            f"  resolver {name:<5} {resolver.address}:{resolver.port} (udp, tcp), {resolver.doh_url}"
        )
    lines += [
        f"  configuration  {sandbox.config_path}",
        "",
        "Try this (in another terminal):",
        "  # roll out a release to westeurope",
        f"  curl -s -X POST {base_url}/lab/regions/westeurope/deploy "
        "-H 'content-type: application/json' -d '{\"version\": \"2.0.0\"}'",
        "  # a bad deploy: Ghost dies behind Nginx, the cached page goes STALE",
        f"  curl -s -X POST {base_url}/lab/regions/westeurope/faults/origin-down",
        "  # watch westeurope turn failing within a few rounds",
        f"  curl -s {base_url}/api/v1/regions/westeurope | python3 -m json.tool | head -20",
        "  # heal it",
        f"  curl -s -X POST {base_url}/lab/regions/westeurope/heal",
        "  # Traffic Manager's own view, and disabling westeurope by hand in the emulator",
        f"  curl -s {base_url}/api/v1/traffic-manager | python3 -m json.tool | head -30",
        f"  curl -s -X POST {base_url}/lab/traffic-manager/endpoints/westeurope/status "
        "-H 'content-type: application/json' -d '{\"status\": \"Disabled\"}'",
        "  # where each resolver and vantage point sends users now (europe: failover)",
        f"  curl -s {base_url}/api/v1/dns | python3 -m json.tool | grep -E 'resolver|vantage|status'",
        "  # break a resolver: servfail, silence, wrong-answer, ignore-ecs, truncate, nxdomain, endless-body",
        f"  curl -s -X POST {base_url}/lab/resolvers/eu/faults/servfail",
        "",
        f"Other faults: {', '.join(f.value for f in Fault)}.",
        "Stop with Ctrl-C.",
    ]
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def sandbox_running(settings: LabSettings, workdir: Path) -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(workdir, settings)
    try:
        await sandbox.start()
        yield sandbox
    finally:
        await sandbox.stop()


async def run_lab(settings: LabSettings, *, announce: Callable[[str], None] = print) -> None:
    """Run the sandbox and the service against it until interrupted; leave nothing behind."""
    with tempfile.TemporaryDirectory(prefix="regionwatch-lab-") as tmp:
        async with sandbox_running(settings, Path(tmp)) as sandbox:
            # The lab is its own process: its service authenticates as the emulator's
            # contributor, the way a deployment sets AZURE_* for DefaultAzureCredential.
            os.environ.update(sandbox.identity())
            # Everything in the lab is on loopback: no proxy from the environment may carry
            # the emulator's tokens and secrets elsewhere.
            os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
            config = load_config(sandbox.config_path)
            service = Service(config)
            app = create_app(
                service,
                routers=[
                    control_router(sandbox.origins, sandbox.traffic_manager, sandbox.resolvers)
                ],
            )
            async with serving(app, host=settings.host, port=settings.port) as served:
                announce(banner(sandbox, served.base_url))
                await served.done
