"""`regionwatch lab`: the model deployment on loopback, and the service watching it.

Two regional origins (westeurope, centralus) with a lab CA, a Traffic Manager emulator with
the model's Geographic profile (Europe → westeurope, the world → centralus) probing them, a
generated configuration a newcomer can read and reuse, the service with its API, and the
fault panel under /lab with the receivers of the service's alerts, all in one process.
Failover runs in enforce mode (the emulator is the lab's own) at settings a person can watch
(`LAB_FAILOVER`): a bad deploy is taken out of Traffic Manager after three failing rounds and
put back after three healthy ones. With several vantage points (`LabSettings.vantage_points`),
observers watch the same regions beside it, each its own service in this process
(lab/vantagepoints.py). Everything lives in a temporary folder that is removed on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
import yaml
from starlette.types import ASGIApp

from api.app import create_app
from api.listener import Listener, bind_listener
from api.server import run_service, stop_signals
from lab.alertreceivers import DOWN_RETRY_AFTER, AlertReceiver, AlertReceivers, Kind
from lab.certs import LabCA
from lab.control import Catalogue, control_router
from lab.faults import Target, fault_catalogue
from lab.loopback import loopback_address, vantage_address
from lab.origin import RegionalOrigin
from lab.resolvers import DEFAULT_TLS_NAME, LAB_SUBNETS, LabResolver, server_context
from lab.trafficmanager import TrafficManagerEmulator
from lab.vantagepoints import (
    DECIDER,
    MAX_VANTAGE_POINTS,
    LabInstance,
    decider_topology,
    observer_config,
    vantage_name,
)
from monitor.config import Config, load_config
from monitor.durations import format_duration

__all__ = [
    "LAB_ALERT_CHANNELS",
    "LAB_FAILOVER",
    "LAB_HOSTNAME",
    "LAB_REGIONS",
    "MAX_VANTAGE_POINTS",
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


# Failover in the lab: enforce (the emulator is the lab's own, so nothing real is written), at a
# pace a person can follow: three failing rounds in a deploy window take a region out, three
# healthy ones put it back, and a region can be taken out again a minute later.
LAB_FAILOVER: dict[str, Any] = {
    "mode": "enforce",
    "failing_rounds": 3,
    "failing_rounds_without_deploy": 12,
    "healthy_rounds": 3,
    "cooldown": "1m",
    "max_disables_per_hour": 6,
}


# The lab's alert channels (name → kind), each pointed at its receiver under /lab/alerts.
LAB_ALERT_CHANNELS: dict[str, Kind] = {
    "webhook": "webhook",
    "slack": "slack",
    "teams": "teams",
    "pagerduty": "pagerduty",
}


@dataclass(frozen=True, slots=True)
class LabSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    interval: timedelta = timedelta(seconds=5)
    # vp1, the decider, and vp2..vpN observers (1: the decider alone, as it always was).
    vantage_points: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.vantage_points <= MAX_VANTAGE_POINTS:
            raise ValueError(
                f"vantage_points: expected 1 to {MAX_VANTAGE_POINTS}, got {self.vantage_points}"
            )


class Sandbox:
    """The regional origins, their CA and the configuration that points the service at them;
    with several vantage points, the observers' configurations too (each on its port of
    `observer_ports`, in order: vp2, vp3, ...)."""

    def __init__(
        self, workdir: Path, settings: LabSettings, observer_ports: tuple[int, ...] = ()
    ) -> None:
        if len(observer_ports) != settings.vantage_points - 1:
            raise ValueError(
                f"expected {settings.vantage_points - 1} observer ports, got {len(observer_ports)}"
            )
        self.workdir = workdir
        self.settings = settings
        self.observer_ports = observer_ports
        self.ca = LabCA()
        self.origins: dict[str, RegionalOrigin] = {}
        self.config_path = workdir / "regionwatch.yaml"
        self.ca_path = workdir / "lab-ca.pem"
        # The API's write token (deploy markers), made for this run and printed with the
        # emulator's credentials: valid for this lab only.
        self.api_token = secrets.token_urlsafe(24)
        # The observers' api.read_token: the decider pulls their observations with it.
        self.read_token = secrets.token_urlsafe(24)
        # Traffic Manager probes on its own clock; the lab's is as fast as the service's.
        self.traffic_manager = TrafficManagerEmulator(
            probe_interval=settings.interval.total_seconds(), workdir=workdir, ca=self.ca.authority
        )
        self.resolvers: dict[str, LabResolver] = {}
        # The webhook's signing key and PagerDuty's routing key, made for this run like the
        # token; the lab's receivers check the signatures with the same key.
        self.webhook_secret = secrets.token_urlsafe(24)
        self.routing_key = secrets.token_hex(16)
        self.alerts = AlertReceivers(
            [
                AlertReceiver(name, kind, secret=self.webhook_secret if kind == "webhook" else None)
                for name, kind in LAB_ALERT_CHANNELS.items()
            ]
        )

    @property
    def vantage_points(self) -> dict[str, str]:
        """The lab's vantage points by name and the source address each probes from: `vpK`
        at 127.0.1.K for each instance (none where the loopback has only 127.0.0.1)."""
        addresses = {
            vantage_name(i): vantage_address(i) for i in range(self.settings.vantage_points)
        }
        return {name: address for name, address in addresses.items() if address is not None}

    @property
    def instances(self) -> tuple[LabInstance, ...]:
        """Every service of the lab, the decider (vp1) first."""
        decider = LabInstance(
            DECIDER,
            "decider",
            self.settings.host,
            self.settings.port,
            self.config_path,
            self.vantage_points.get(DECIDER),
        )
        observers = tuple(
            LabInstance(
                vantage_name(i),
                "observer",
                "127.0.0.1",
                port,
                self.workdir / f"regionwatch-{vantage_name(i)}.yaml",
                self.vantage_points.get(vantage_name(i)),
            )
            for i, port in enumerate(self.observer_ports, start=1)
        )
        return (decider, *observers)

    @property
    def base_url(self) -> str:
        """Where the lab's service (and its fault panel) is served."""
        return f"http://{self.settings.host}:{self.settings.port}"

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
        decider = self._config()
        self.config_path.write_text(_HEADER + yaml.safe_dump(decider, sort_keys=False), "utf-8")
        for observer in self.instances[1:]:
            config = observer_config(
                decider,
                observer,
                decider_url=self.base_url,
                decider_token=self.api_token,
                read_token=self.read_token,
                interval=self.settings.interval,
            )
            text = _OBSERVER_HEADER + yaml.safe_dump(config, sort_keys=False)
            observer.config_path.write_text(text, encoding="utf-8")
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
        """The environment DefaultAzureCredential reads, for the emulator's contributor."""
        return self.traffic_manager.environment()

    async def stop(self) -> None:
        for resolver in self.resolvers.values():
            await resolver.stop()
        await self.traffic_manager.stop()
        for origin in self.origins.values():
            await origin.stop()

    def _config(self) -> dict[str, Any]:
        interval = self.settings.interval
        timeout = min(interval, timedelta(seconds=3))
        config: dict[str, Any] = {
            "site": {"hostname": LAB_HOSTNAME},
            "regions": {
                name: {"address": o.address, "port": o.https_port, "http_port": o.http_port}
                for name, o in self.origins.items()
            },
            # Absolute, so a copy of this file elsewhere still finds the CA.
            "tls": {"ca_file": str(self.ca_path)},
            "checks": {
                "https": {
                    "interval": format_duration(interval),
                    "timeout": format_duration(timeout),
                    "requests": MODEL_REQUESTS,
                    # This instance's own path to the regions: the origins see it by address.
                    **(
                        {"source_address": self.vantage_points["vp1"]}
                        if self.vantage_points
                        else {}
                    ),
                },
                "dns": self._dns_checks(),
            },
            "traffic_manager": self.traffic_manager.config_section(
                interval=format_duration(interval)
            ),
            "failover": LAB_FAILOVER,
            # Every channel's receiver is the lab's own, on this port.
            "alerts": self.alerts.channels(self.base_url, routing_key=self.routing_key),
            # A change soon after a problem's first alert is held only this long, so a newcomer
            # sees a recovery arrive in seconds rather than minutes.
            "alerting": {"group_window": format_duration(2 * interval)},
            "api": {
                "listen": f"{self.settings.host}:{self.settings.port}",
                "token": self.api_token,
                "public_url": self.base_url,
            },
            "storage": {"path": "regionwatch.db", "retention": "1d"},
        }
        observers = list(self.instances[1:])
        if observers:
            config |= decider_topology(
                observers, read_token=self.read_token, interval=self.settings.interval
            )
        return config


_HEADER = (
    "# Generated by `regionwatch lab` for its loopback sandbox; every key is in\n"
    "# docs/configuration.md. Traffic Manager's credentials are not in this file: the\n"
    "# Azure SDK reads AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET from the\n"
    "# environment (the lab prints the export lines). Failover is in enforce mode: the\n"
    "# Traffic Manager it writes is the lab's emulator. api.token is made for this run.\n"
    "# The alerts go to the lab's own receivers (/lab/alerts); their keys are this run's.\n"
)
_OBSERVER_HEADER = (
    "# Generated by `regionwatch lab` for one of its observers; every key is in\n"
    "# docs/configuration.md. An observer probes the regions from its own address and\n"
    "# publishes what it sees to the decider (vp1), which alone decides, alerts and writes\n"
    "# to Traffic Manager. api.read_token and the decider's token are made for this run.\n"
)


def banner(sandbox: Sandbox, base_url: str) -> str:
    """What to look at and what to try, printed once the lab is up; with everything a newcomer
    needs to point a configuration of their own at the lab (the CA, the ports, the TLS name,
    the emulator's lab credentials), and where the lab's own ready configuration is."""
    tm = sandbox.traffic_manager
    lines = [
        f"regionwatch lab: two regions of {LAB_HOSTNAME} on loopback, probed every "
        f"{format_duration(sandbox.settings.interval)}"
        + (
            f" from {len(sandbox.instances)} vantage points." if len(sandbox.instances) > 1 else "."
        ),
        "",
        *_instances(sandbox, base_url),
        f"  dashboard      {base_url}/",
        f"  regions (JSON) {base_url}/api/v1/regions",
        f"  API docs       {base_url}/docs",
        f"  fault panel    {base_url}/lab  (every fault and its parameters: {base_url}/docs#/lab)",
        f"  alerts         {base_url}/lab/alerts  (what the lab's receivers got; channels: "
        f"{', '.join(sandbox.alerts.by_name)})",
    ]
    for name, origin in sandbox.origins.items():
        lines.append(
            f"  {name:<14} https://{origin.address}:{origin.https_port}  (http {origin.http_port})"
        )
    lines.append(f"  lab CA         {sandbox.ca_path}  (the origins' and resolvers' certificates)")
    for name, resolver in sandbox.resolvers.items():
        lines.append(
            f"  resolver {name:<5} {resolver.address}:{resolver.port} (udp, tcp), "
            f"DoT {resolver.address}:{resolver.dot_port} (TLS name {DEFAULT_TLS_NAME}), "
            f"DoH {resolver.doh_url}"
        )
    lines += [
        f"  traffic mgr    {tm.base_url}  (Resource Manager and Entra ID; its DNS on "
        f"127.0.0.1:{tm.dns_port})",
        f"                 subscription {tm.subscription_id}, resource group "
        f"{tm.resource_group}, profile blog",
        f"                 CA {tm.ca_file}",
        f"  configuration  {sandbox.config_path}",
        f"  api token      {sandbox.api_token}  (api.token: deploy markers need it; this lab's only)",
        *(
            [
                f"  read token     {sandbox.read_token}  (the observers' api.read_token: their "
                "/api/v1 needs it)"
            ]
            if len(sandbox.instances) > 1
            else []
        ),
        "",
        "Your own configuration against the lab: start from the file above (copy it: it is",
        "removed when the lab stops) or write one with the addresses, ports and CA files",
        "above. The Azure SDK reads its identity from the environment; these are the",
        "emulator's lab credentials, valid nowhere else:",
        *(f"  export {key}={value}" for key, value in sandbox.identity().items()),
        f"  .venv/bin/regionwatch check --config {sandbox.config_path}",
        "",
        *_story(sandbox, base_url),
        "",
        "Faults, with each parameter's default (send the parameters as a JSON body):",
        f"  regions    {_fault_summary(fault_catalogue())}",
        f"  resolvers  {_fault_summary(fault_catalogue(Target.RESOLVER))}",
        f"  ARM        POST {base_url}/lab/traffic-manager/faults with "
        '{"status": 503, "count": 1, "path_contains": ..., "retry_after": ..., "delay": 0}',
        "Stop with Ctrl-C.",
    ]
    return "\n".join(lines)


_JSON = "-H 'content-type: application/json' -d"
# Prints the parts of a region that tell the story: its verdict, its streak, the failover
# policy's state and Traffic Manager's view of its endpoint.
_REGION_STORY = (
    "python3 -c 'import json, sys; r = json.load(sys.stdin); print(json.dumps({k: r.get(k) "
    'for k in ("status", "streak", "policy", "traffic_manager")}, indent=2))\''
)
_EVENTS = "python3 -m json.tool | grep -E '\"(type|summary)\"'"


def _story(sandbox: Sandbox, base_url: str) -> list[str]:
    """The banner's walk through a bad deploy: out of Traffic Manager, and back."""
    failing = LAB_FAILOVER["failing_rounds"]
    healthy = LAB_FAILOVER["healthy_rounds"]
    region = f"{base_url}/lab/regions/westeurope"
    events = f"curl -s '{base_url}/api/v1/events?region=westeurope' | {_EVENTS}"
    return [
        "Try this (in another terminal): a bad release to westeurope, taken out of Traffic",
        "Manager by the monitor and put back after the fix (failover.mode: enforce: the",
        "Traffic Manager it writes is the lab's emulator).",
        "  # 1. roll out release 2.0.0 to westeurope ...",
        f'  curl -s -X POST {region}/deploy {_JSON} \'{{"version": "2.0.0"}}\'',
        "  #    ... and mark the deploy, as a deploy script would after each region's rollout",
        "  #    (unmarked, the new X-Release is recorded as a deploy once most rounds see it)",
        f"  REGIONWATCH_TOKEN={sandbox.api_token} .venv/bin/regionwatch deploy --region westeurope "
        f"--version 2.0.0 --url {base_url}",
        "  # 2. the release is broken: every page answers 500",
        f"  curl -s -X POST {region}/faults/error {_JSON} '{{\"status\": 500}}'",
        f"  # 3. watch the failing rounds counted; at the {_ordinal(failing)} in the deploy window "
        "westeurope is disabled, and the events say why",
        f"  curl -s {base_url}/api/v1/regions/westeurope | {_REGION_STORY}",
        f"  {events}",
        "  # 4. westeurope Disabled in Traffic Manager; Europe's users are sent to centralus "
        "(dns: failover)",
        f"  curl -s {base_url}/api/v1/traffic-manager | python3 -m json.tool "
        "| grep -E '\"(westeurope|centralus|endpoint_status)\"'",
        f"  curl -s {base_url}/api/v1/dns | python3 -m json.tool | grep -E 'resolver|vantage|status'",
        "  # 5. the audit trail: every decision, its reason and evidence, what became of it",
        f"  curl -s {base_url}/api/v1/actions | python3 -m json.tool",
        f"  # 6. the fix: release 2.0.1 without the error; after {healthy} healthy rounds "
        "westeurope is enabled again (events: endpoint.enabled)",
        f'  curl -s -X POST {region}/deploy {_JSON} \'{{"version": "2.0.1"}}\'',
        f"  curl -s -X POST {region}/heal",
        f"  {events}",
        "",
        *_alerts(sandbox, base_url),
        "",
        *_controls(sandbox, base_url),
        "",
        *_several(sandbox, base_url),
        "More to try:",
        "  # Ghost dies behind Nginx: the cached page goes STALE while Traffic Manager's probe of",
        "  # / still gets 200; outside a deploy window the monitor acts after "
        f"{LAB_FAILOVER['failing_rounds_without_deploy']} failing rounds",
        f"  curl -s -X POST {region}/faults/origin-down",
        "  # one bad pod in three answering 502, via the fault's parameters",
        f"  curl -s -X POST {base_url}/lab/regions/centralus/faults/error "
        f'{_JSON} \'{{"status": 502, "every": 3}}\'',
        "  # disable westeurope by hand in the emulator, as a person would in the Azure portal:",
        "  # regionwatch leaves it to them (policy: operator)",
        f"  curl -s -X POST {base_url}/lab/traffic-manager/endpoints/westeurope/status "
        f'{_JSON} \'{{"status": "Disabled"}}\'',
        "  # break a resolver",
        f"  curl -s -X POST {base_url}/lab/resolvers/eu/faults/servfail",
    ]


def _alerts(sandbox: Sandbox, base_url: str) -> list[str]:
    """The banner's walk through the alerts of the story above, and a receiver that is down
    while they are sent."""
    channel = next(iter(sandbox.alerts.by_name))
    at = f"{base_url}/lab/alerts"
    return [
        "Watch the alerts: each event above is an alert owed to every channel, kept in the",
        "service's outbox until its receiver takes it (the lab's log says alert_delivered).",
        "  # what each receiver got, in order: region.failing and endpoint.disabled, then",
        "  # region.recovered and endpoint.enabled (the webhook's signatures checked: verified)",
        f"  curl -s {at} | python3 -m json.tool | grep -E '\"(type|region|summary|key|verified)\"'",
        "  # the events they carry",
        f"  curl -s '{base_url}/api/v1/events?region=westeurope' | {_EVENTS}",
        f"  # take the {channel} receiver down before step 2: it answers 503 (Retry-After "
        f"{DOWN_RETRY_AFTER}), the",
        "  # alerts wait in the outbox, retried, and the other channels get theirs meanwhile ...",
        f"  curl -s -X POST {at}/{channel}/down",
        "  # meanwhile the service shows it: pending alerts, the channel failing (and a",
        "  # monitor.blind event about it to the other channels)",
        f"  curl -s {base_url}/api/v1/alerts | python3 -m json.tool",
        "  # ... and bring it back after step 6: everything arrives within seconds, in order",
        "  # for each problem (a recovery waits out its group window after its failure went)",
        f"  curl -s -X POST {at}/{channel}/up",
    ]


def _controls(sandbox: Sandbox, base_url: str) -> list[str]:
    """The banner's walk through a person's controls, each recorded with who and why in the
    audit trail, and a replay of the lab's history so far."""
    rw = ".venv/bin/regionwatch"
    at = f"--url {base_url}"
    healthy = LAB_FAILOVER["healthy_rounds"]
    return [
        "Take the controls (each recorded with who and why; --by defaults to $USER@hostname):",
        f"  export REGIONWATCH_TOKEN={sandbox.api_token}",
        "  # hold westeurope where it is: no automatic decision about it until unpinned",
        f'  {rw} region pin westeurope --reason "investigating" --for 1h {at}',
        f'  {rw} region unpin westeurope --reason "found it" {at}',
        "  # a maintenance window: neither acted on nor alerted on, /healthz 200; it ends by",
        "  # itself in 2 minutes (silence --list shows it, silence --end ID ends it sooner)",
        f'  {rw} silence westeurope --reason "cluster upgrade" --for 2m {at}',
        "  # break-glass: nothing written to Traffic Manager until resumed",
        f'  {rw} pause --reason "Azure incident" {at}',
        f'  {rw} resume --reason "incident over" {at}',
        "  # a person's disable, past the guard rails: it stays until a person enables it",
        "  # (region enable) or hands it to regionwatch, which then enables it after "
        f"{healthy} healthy rounds",
        "  # (once the silence is over)",
        f'  {rw} region disable westeurope --reason "database migration" --force {at}',
        f'  {rw} adopt westeurope --reason "migration done" {at}',
        "  # the whole trail: who did what, when and why",
        f"  curl -s {base_url}/api/v1/audit | python3 -m json.tool | grep -E '\"(at|summary)\"'",
        "  # what enforce mode would have done over the lab's history so far, and where that",
        "  # differs from what was decided (the store is read beside the running lab)",
        f"  {rw} replay --config {sandbox.config_path} --since 1h",
    ]


def _instances(sandbox: Sandbox, base_url: str) -> list[str]:
    """With several vantage points, one line per instance: vantage point, role, URL, the
    address its probes leave from, and its configuration."""
    if len(sandbox.instances) == 1:
        return []
    lines = []
    for instance in sandbox.instances:
        url = base_url if instance.role == "decider" else instance.url
        source = instance.source_address or "the system's choice"
        lines.append(
            f"  {instance.vantage:<4} {instance.role:<9} {url}  (probes from {source}; "
            f"{instance.config_path.name})"
        )
    return [*lines, ""]


def _several(sandbox: Sandbox, base_url: str) -> list[str]:
    """The banner's walk through several vantage points: one path cut is not a region down
    (inconclusive, Traffic Manager unchanged), the region itself down is (disabled, with every
    vantage point that agreed in the audit trail)."""
    instances = sandbox.instances
    if len(instances) == 1 or DECIDER not in sandbox.vantage_points:
        return []
    total = len(instances)
    majority = total // 2 + 1
    paths = f"{base_url}/lab/paths"
    observer = instances[1]
    return [
        f"Several vantage points: vp1 decides; {', '.join(i.vantage for i in instances[1:])} "
        "observe from their own addresses, and a",
        f"network failure counts only when more than half of them see it ({majority} of {total}).",
        "  # 0. mark a release of westeurope: in its deploy window 3 failing rounds act (12",
        "  #    outside one), so each step below shows within seconds",
        f"  REGIONWATCH_TOKEN={sandbox.api_token} .venv/bin/regionwatch deploy --region westeurope "
        f"--version 1.0.0 --url {base_url}",
        "  # 1. cut vp1's path to westeurope: the decider alone sees it failing ...",
        f'  curl -s -X POST {paths}/vp1/westeurope/cut {_JSON} \'{{"how": "refuse"}}\'',
        f'  #    ... so its policy stays inconclusive ("1 of {total} vantage points") and',
        "  #    westeurope stays Enabled in Traffic Manager; every peer is fresh",
        f"  curl -s {base_url}/api/v1/regions/westeurope | {_REGION_STORY}",
        f"  curl -s {base_url}/api/v1/peers | python3 -m json.tool | grep -E "
        "'\"(name|state|counted)\"'",
        "  #    what an observer sees (its API needs the read token)",
        f"  curl -s -H 'Authorization: Bearer {sandbox.read_token}' "
        f"{observer.url}/api/v1/regions/westeurope | {_REGION_STORY}",
        f"  curl -s -X POST {paths}/vp1/westeurope/restore",
        "  # 2. break westeurope itself (its listener closed: refused from everywhere): once",
        "  #    every vantage point agrees it is disabled, and the audit trail names them",
        f"  curl -s -X POST {base_url}/lab/regions/westeurope/faults/refuse",
        f"  curl -s {base_url}/api/v1/audit | python3 -m json.tool | grep -E "
        "'\"(summary|failing|majority)\"' -A4",
        "  #    an observer's /healthz repeats the decider's answer (503 while disabled)",
        f"  curl -s -i '{observer.url}/healthz?region=westeurope'",
        f"  curl -s -X POST {base_url}/lab/regions/westeurope/heal",
        "",
    ]


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}.get(n, f"{n}th")


def _fault_summary(catalogue: Catalogue) -> str:
    """`name(param=default, ...)` for each fault, on one line."""
    faults = []
    for name, (_, params) in catalogue.items():
        defaults = ", ".join(f"{param}={default}" for param, (_, default) in params.items())
        faults.append(f"{name}({defaults})" if defaults else name)
    return ", ".join(faults)


@contextlib.asynccontextmanager
async def sandbox_running(
    settings: LabSettings, workdir: Path, observer_ports: tuple[int, ...] = ()
) -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(workdir, settings, observer_ports)
    try:
        await sandbox.start()
        yield sandbox
    finally:
        await sandbox.stop()


async def run_lab(settings: LabSettings, *, announce: Callable[[str], None] = print) -> None:
    """Run the sandbox and the services against it (the decider, and with several vantage
    points every observer) until SIGTERM or SIGINT; leave nothing behind. Raises ListenError,
    before anything starts, when the port cannot be had."""
    listener = bind_listener(settings.host, settings.port)
    # The observers listen on free ports on 127.0.0.1, bound now so the configurations name them.
    observers = [bind_listener("127.0.0.1", 0) for _ in range(settings.vantage_points - 1)]
    # The generated configuration names the port actually bound (--port 0 picks one).
    settings = dataclasses.replace(settings, port=listener.getsockname()[1])
    ports = tuple(int(o.getsockname()[1]) for o in observers)
    try:
        async with stop_signals() as stopping:
            with tempfile.TemporaryDirectory(prefix="regionwatch-lab-") as tmp:
                async with sandbox_running(settings, Path(tmp), ports) as sandbox:
                    # The lab is its own process: its services authenticate as the emulator's
                    # contributor, the way a deployment sets AZURE_* for DefaultAzureCredential
                    # (the observers only read: they have no actuator).
                    os.environ.update(sandbox.identity())
                    # Everything in the lab is on loopback: no proxy from the environment may
                    # carry the emulator's tokens and secrets elsewhere.
                    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
                    await _serve_all(sandbox, [listener, *observers], stopping, announce=announce)
    finally:
        listener.close()
        for observer in observers:
            observer.close()


async def _serve_all(
    sandbox: Sandbox,
    listeners: list[Listener],
    stopping: asyncio.Event,
    *,
    announce: Callable[[str], None],
) -> None:
    """Every instance's service on its listener, in this process and this event loop, until
    `stopping` is set: one stop stops them all at once, each within its own budget. The banner
    is printed once every instance listens."""
    instances = sandbox.instances
    listening: dict[str, str] = {}

    def listens(vantage: str, base_url: str) -> None:
        listening[vantage] = base_url
        if len(listening) == len(instances):
            announce(banner(sandbox, listening[DECIDER]))

    async def serve(instance: LabInstance, listener: Listener) -> None:
        if len(instances) > 1:
            # Each task has its own context: every line its service logs names its vantage
            # point, though all of them share this process's stderr.
            structlog.contextvars.bind_contextvars(vantage=instance.vantage)
        app = _app(sandbox, instance)
        await run_service(
            app,
            listener,
            stopping=stopping,
            announce=lambda base_url: listens(instance.vantage, base_url),
        )
        # One instance that ends (its store failed) ends the lab: a quorum without it misleads.
        stopping.set()

    async with asyncio.TaskGroup() as group:
        for instance, listener in zip(instances, listeners, strict=True):
            group.create_task(serve(instance, listener))


def _app(sandbox: Sandbox, instance: LabInstance) -> ASGIApp:
    """The decider's app carries the fault panel and the alert receivers; an observer's is the
    service's alone."""
    config = load_config(instance.config_path)
    if instance.role == "observer":
        return create_app(config)
    return create_app(
        config,
        routers=[
            control_router(
                sandbox.origins,
                sandbox.traffic_manager,
                sandbox.resolvers,
                sandbox.alerts,
                sandbox.vantage_points,
            )
        ],
    )
