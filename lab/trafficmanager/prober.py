"""Traffic Manager's own endpoint monitoring (docs/traffic-manager.md), on loopback.

Each enabled endpoint of each enabled profile is probed with the profile's monitorConfig:
an HTTP(S) GET of `path` that succeeds on 200, the documented default, within the timeout.
HTTPS probes do not validate the certificate, as Traffic Manager's don't. The Host header
(and the TLS server name) is the profile's custom Host header, else the target. Outcomes move the monitor status by the
documented rules in `TrafficManagerState.record_probe`.

Lab rules: targets are only ever contacted on loopback. `route()` sends a target (the model's
public IP or cloudapp name) to a loopback address and port; a target that resolves nowhere
on loopback is not probed at all (its status stays as it is) rather than contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from dataclasses import dataclass

import h11

from lab.trafficmanager.model import Endpoint, Profile, Protocol, Status
from lab.trafficmanager.state import Health, TrafficManagerState

__all__ = ["ProbeResult", "Prober"]

_log = logging.getLogger(__name__)

_USER_AGENT = "Azure Traffic Manager Endpoint Monitor"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    profile: str
    endpoint: str
    ok: bool
    detail: str  # "200", "status 503", "refused: ...", "timeout after 0.5s"
    health: Health  # the endpoint's health after this result


def _probe_context() -> ssl.SSLContext:
    # "Traffic Manager doesn't validate certificates" (FAQ, "Can I monitor HTTPS endpoints?").
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class Prober:
    """Drives monitor statuses: `await probe_once()` for one round (tests), or `start()` for a
    background loop every `interval` seconds (default: each profile's intervalInSeconds)."""

    def __init__(
        self,
        state: TrafficManagerState,
        *,
        interval: float | None = None,
        timeout: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.state = state
        self.interval = interval
        self.timeout = timeout  # default: each profile's timeoutInSeconds
        self._context = ssl_context or _probe_context()
        self._routes: dict[str, tuple[str, int | None]] = {}
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    def route(self, target: str, address: str, port: int | None = None) -> None:
        """Probe endpoints whose target is `target` at `address` (loopback) and `port` (None:
        the profile's monitor port)."""
        if not _is_loopback(address):
            raise ValueError(f"the lab probes loopback addresses only, not {address!r}")
        self._routes[target.lower().rstrip(".")] = (address, port)

    def _destination(self, profile: Profile, endpoint: Endpoint) -> tuple[str, int] | None:
        target = endpoint.target.lower().rstrip(".")
        address, port = self._routes.get(target, (target, None))
        if not _is_loopback(address):
            address = self.state.hosts.get(target, "")
            if not _is_loopback(address):
                return None
        return address, port or profile.monitor.port

    def _due(self) -> list[tuple[Profile, Endpoint]]:
        due = []
        for profile in self.state.profiles():
            if profile.status is Status.DISABLED:
                continue
            for endpoint in profile.endpoints:
                health = self.state.health(profile, endpoint)
                if (
                    endpoint.status is Status.ENABLED
                    and not endpoint.always_serve
                    and health.forced is None
                ):
                    due.append((profile, endpoint))
        return due

    async def probe_once(self) -> list[ProbeResult]:
        """Probe every monitored endpoint once, concurrently, and apply the outcomes."""
        jobs = []
        for profile, endpoint in self._due():
            destination = self._destination(profile, endpoint)
            if destination is None:
                _log.debug("probe_skipped endpoint=%s: no loopback route", endpoint.name)
                continue
            jobs.append((profile, endpoint, destination))
        outcomes = await asyncio.gather(
            *(self._probe(profile, endpoint, dest) for profile, endpoint, dest in jobs)
        )
        results = []
        for (profile, endpoint, _), (ok, detail) in zip(jobs, outcomes, strict=True):
            health = self.state.record_probe(profile, endpoint, ok, detail)
            results.append(ProbeResult(profile.name, endpoint.name, ok, detail, health))
        self.rounds += 1
        return results

    async def _probe(
        self, profile: Profile, endpoint: Endpoint, destination: tuple[str, int]
    ) -> tuple[bool, str]:
        timeout = self.timeout if self.timeout is not None else float(profile.monitor.timeout)
        try:
            async with asyncio.timeout(timeout):
                return await self._attempt(profile, endpoint, destination)
        except TimeoutError:
            return False, f"timeout after {timeout:g}s"
        except (OSError, h11.ProtocolError) as exc:
            return False, f"{type(exc).__name__}: {exc}"

    async def _attempt(
        self, profile: Profile, endpoint: Endpoint, destination: tuple[str, int]
    ) -> tuple[bool, str]:
        monitor = profile.monitor
        # An endpoint's own custom headers replace the profile's, as in Traffic Manager.
        custom = endpoint.custom_headers or monitor.custom_headers
        headers = {h.name.lower(): (h.name, h.value) for h in custom}
        host = headers.pop("host", ("Host", endpoint.target))[1]
        server_name = None if _is_ip(host) else host
        tls = monitor.protocol is Protocol.HTTPS
        reader, writer = await asyncio.open_connection(
            destination[0],
            destination[1],
            ssl=self._context if tls else None,
            server_hostname=(server_name or "") if tls else None,
        )
        try:
            conn = h11.Connection(h11.CLIENT)
            request = h11.Request(
                method="GET",
                target=monitor.path or "/",
                headers=[
                    ("Host", host),
                    ("User-Agent", _USER_AGENT),
                    ("Connection", "close"),
                    *headers.values(),
                ],
            )
            writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
            await writer.drain()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Response):
                    return event.status_code == 200, f"status {event.status_code}"
                if isinstance(event, h11.ConnectionClosed):
                    return False, "closed before a response"
        finally:
            writer.transport.abort()

    # The background loop.

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.probe_once()
            except Exception:
                _log.exception("probe_round_failed")
            await asyncio.sleep(self._period())

    def _period(self) -> float:
        if self.interval is not None:
            return self.interval
        # Real Traffic Manager probes each profile at its own interval; the loop goes at the
        # fastest one (profiles with a 30 s interval are then probed more often than real).
        return float(min((p.monitor.interval for p in self.state.profiles()), default=30))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
