"""`TrafficManagerEmulator`: Entra ID, ARM, Traffic Manager's probing and its DNS, on loopback,
in the caller's asyncio loop.

    async with TrafficManagerEmulator() as tm:
        tm.seed_lab_profile()
        cred = ClientSecretCredential(tm.tenant_id, tm.client_id, tm.client_secret,
                                      authority=tm.base_url, disable_instance_discovery=True,
                                      connection_verify=str(tm.ca_file))
        client = TrafficManagerManagementClient(cred, tm.subscription_id, base_url=tm.base_url,
                                                connection_verify=str(tm.ca_file))
"""

from __future__ import annotations

import ssl
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import trustme

from lab.faults import Fault, FaultBoard, ParamValue, Target, parse_fault
from lab.httpserver import HttpServer, Misbehaviour
from lab.trafficmanager.app import EmulatorApp
from lab.trafficmanager.dnsserver import TrafficManagerDns
from lab.trafficmanager.entra import READER_ACTIONS, Directory, ServicePrincipal
from lab.trafficmanager.faults import FaultQueue, FaultRule, RequestLog
from lab.trafficmanager.geo import GeoLocator
from lab.trafficmanager.model import MonitorStatus, Profile
from lab.trafficmanager.prober import Prober
from lab.trafficmanager.seed import lab_profile_body
from lab.trafficmanager.state import TrafficManagerState
from monitor.clock import OffsetClock

__all__ = ["TrafficManagerEmulator"]

_MISBEHAVIOURS = {Fault.RESET: Misbehaviour.RESET, Fault.MALFORMED: Misbehaviour.MALFORMED}


class TrafficManagerEmulator:
    """The whole emulator. Everything binds to `host` (loopback) on ephemeral ports.

    `token_lifetime` is the `expires_in` of issued tokens; `clock` is the emulator's notion of
    now (advance it to expire tokens). `dns_geography` is where the emulator's own name server
    places resolvers whose queries carry no client subnet. `probe_interval` starts the prober's
    background loop at that period; without it, drive the prober with `prober.probe_once()`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        tenant_id: str | None = None,
        subscription_id: str | None = None,
        resource_group: str = "blog",
        client_id: str | None = None,
        client_secret: str | None = None,
        token_lifetime: int = 3600,
        clock: OffsetClock | None = None,
        geography_table: Mapping[str, str] | None = None,
        dns_geography: str | None = None,
        probe_interval: float | None = None,
        probe_timeout: float | None = None,
        probe_ssl_context: ssl.SSLContext | None = None,
        ca: Any = None,
        workdir: Path | None = None,
    ) -> None:
        if not host.startswith("127."):
            raise ValueError(f"the emulator listens on loopback only, not {host!r}")
        self.host = host
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.subscription_id = subscription_id or str(uuid.uuid4())
        self.resource_group = resource_group
        self.clock = clock or OffsetClock()
        self.state = TrafficManagerState(
            self.subscription_id, resource_group, locator=GeoLocator(table=geography_table)
        )
        self.directory = Directory(self.tenant_id, clock=self.clock, token_lifetime=token_lifetime)
        self.contributor: ServicePrincipal = self.directory.add(client_id, client_secret)
        self.reader: ServicePrincipal = self.directory.add(actions=READER_ACTIONS)
        self._app = EmulatorApp(self.state, self.directory)
        self._ca = ca if ca is not None else trustme.CA(organization_name="regionwatch TM emulator")
        self._workdir = workdir
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._ca_file: Path | None = None
        self._https = HttpServer(self._app, host=host, tls=self._server_context())
        self.dns = TrafficManagerDns(self.state, host=host, geography=dns_geography)
        self.prober = Prober(
            self.state,
            interval=probe_interval,
            timeout=probe_timeout,
            ssl_context=probe_ssl_context,
        )
        self._probe_in_background = probe_interval is not None
        self._started = False

    def _server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.set_alpn_protocols(["http/1.1"])
        self._ca.issue_cert(self.host, "localhost").configure_cert(context)
        return context

    # Lifecycle.

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("emulator already started")
        self._started = True
        directory = self._workdir
        if directory is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="tm-emulator-")
            directory = Path(self._tempdir.name)
        self._ca_file = directory / "tm-emulator-ca.pem"
        self._ca.cert_pem.write_to_path(str(self._ca_file))
        try:
            await self._https.start()
            self.directory.authority = self.base_url
            await self.dns.start()
            if self._probe_in_background:
                self.prober.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop probing, close every listener and connection, remove the temporary CA file."""
        await self.prober.stop()
        await self.dns.stop()
        await self._https.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    async def __aenter__(self) -> TrafficManagerEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # What clients need.

    @property
    def base_url(self) -> str:
        """The one URL for both the authority (Entra ID) and ARM: `https://127.0.0.1:PORT`."""
        return f"https://{self.host}:{self._https.port}"

    @property
    def ca_file(self) -> Path:
        """The PEM of the CA that signed the emulator's certificate (for `connection_verify`)."""
        if self._ca_file is None:
            raise RuntimeError("the emulator is not started")
        return self._ca_file

    @property
    def ca_pem(self) -> bytes:
        pem: bytes = self._ca.cert_pem.bytes()
        return pem

    @property
    def client_id(self) -> str:
        return self.contributor.client_id

    @property
    def client_secret(self) -> str:
        return self.contributor.secret

    @property
    def dns_port(self) -> int:
        return self.dns.port

    @property
    def faults(self) -> FaultQueue:
        return self._app.faults

    def inject(self, fault: Fault | str, **params: ParamValue) -> FaultRule:
        """Switch a fault of the HTTPS side on, as the other lab servers do (`lab.faults`):
        `error`, `slow`, `hang`, `reset` or `malformed`, for requests matching `method` and
        `path_contains`, hitting `every`th one, `count` of them (None: until healed). Each
        injection queues one more rule (see `faults.add` for the full scripting). A reset or
        malformed answer comes from a request that was carried out: only its answer breaks."""
        board = FaultBoard(Target.EMULATOR)
        parsed = board.inject(fault, params)
        values = board.snapshot()[parsed.value]
        method, path, every, count = (
            values.get(k) for k in ("method", "path_contains", "every", "count")
        )
        assert isinstance(every, int) and (count is None or isinstance(count, int))
        assert (method is None or isinstance(method, str)) and (
            path is None or isinstance(path, str)
        )
        delay = values.get("delay", 0.0)
        status = values.get("status")
        assert isinstance(delay, int | float) and (status is None or isinstance(status, int))
        return self.faults.add(
            method=method,
            path_contains=path,
            status=status,
            count=count,
            delay=float(delay),
            every=every,
            misbehave=_MISBEHAVIOURS.get(parsed),
            fault=parsed,
        )

    def heal(self, fault: Fault | str | None = None) -> None:
        """Switch one fault off (every rule injected as it), or every fault and scripted rule."""
        self.faults.clear(None if fault is None else parse_fault(fault, Target.EMULATOR))

    @property
    def requests_log(self) -> RequestLog:
        return self._app.log

    def add_client(
        self,
        client_id: str | None = None,
        secret: str | None = None,
        *,
        actions: Sequence[str] = READER_ACTIONS,
        not_actions: Sequence[str] = (),
    ) -> ServicePrincipal:
        """Another service principal, with its role's actions (Reader's by default)."""
        return self.directory.add(client_id, secret, actions=actions, not_actions=not_actions)

    def assign_role(
        self,
        principal: ServicePrincipal,
        actions: Sequence[str] = READER_ACTIONS,
        *,
        not_actions: Sequence[str] = (),
    ) -> ServicePrincipal:
        """Change what `principal` may do (Reader's actions by default: read-only), as an
        administrator changing its role assignment would: ARM and the permissions listing
        follow at once, and signed-in clients keep their tokens."""
        updated = self.directory.assign(
            principal.client_id, actions=actions, not_actions=not_actions
        )
        if updated.client_id == self.contributor.client_id:
            self.contributor = updated
        elif updated.client_id == self.reader.client_id:
            self.reader = updated
        return updated

    def environment(self, principal: ServicePrincipal | None = None) -> dict[str, str]:
        """The environment DefaultAzureCredential reads to sign in as `principal` (the
        contributor by default). The chain is held to the environment credential, so nothing
        tries a managed identity, and loopback bypasses any proxy."""
        principal = principal or self.contributor
        return {
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": principal.client_id,
            "AZURE_CLIENT_SECRET": principal.secret,
            "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def config_section(self, *, interval: str = "1s", profile: str = "blog") -> dict[str, Any]:
        """regionwatch's `traffic_manager:` configuration section pointing at this emulator."""
        return {
            "interval": interval,
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "profile": profile,
            "resource_manager_url": self.base_url,
            "authority_host": self.base_url,
            "ca_file": str(self.ca_file),
        }

    # Seeding and the lab's admin hooks.

    def put_profile(self, name: str, body: Mapping[str, Any]) -> Profile:
        """Create or replace a profile, endpoints included."""
        return self.state.put_profile(name, body)

    def seed_lab_profile(
        self,
        *,
        name: str = "blog",
        relative_name: str = "blog-tm",
        targets: Mapping[str, str] | None = None,
        geo_mapping: Mapping[str, Sequence[str]] | None = None,
        ttl: int = 60,
        monitor_path: str = "/",
        monitor_port: int = 443,
        host_header: str = "blog.example.com",
        routing_method: str = "Geographic",
    ) -> Profile:
        """The model deployment's profile: Geographic, westeurope → GEO-EU, centralus → WORLD
        (reference: model-deployment.md), probing HTTPS with the site's Host header."""
        return self.put_profile(
            name,
            lab_profile_body(
                relative_name=relative_name,
                targets=targets,
                geo_mapping=geo_mapping,
                ttl=ttl,
                monitor_path=monitor_path,
                monitor_port=monitor_port,
                host_header=host_header,
                routing_method=routing_method,
            ),
        )

    def profile(self, name: str = "blog") -> Profile:
        return self.state.find_profile(name)

    def set_endpoint_status(self, endpoint: str, status: str, *, profile: str = "blog") -> None:
        """Enable or disable an endpoint behind the service's back, as an operator would in the
        Azure portal (the same merge as an ARM PATCH of endpointStatus)."""
        found = self.profile(profile).endpoint(endpoint)
        if found is None:
            raise KeyError(endpoint)
        self.state.patch_endpoint(
            self.subscription_id,
            self.resource_group,
            profile,
            found.type.value,
            found.name,
            {"properties": {"endpointStatus": status}},
        )

    def force_monitor_status(
        self, endpoint: str, status: MonitorStatus | str | None, *, profile: str = "blog"
    ) -> None:
        """Pin what probing says of an endpoint (None releases it to the prober again)."""
        self.state.force_monitor_status(self.profile(profile), endpoint, status)
