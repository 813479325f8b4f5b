"""The composition root: everything is built once from the configuration and owned here."""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import structlog

from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.dnsmap import DnsFinding
from monitor.dnsround import DnsRound
from monitor.errors import StoreError
from monitor.probes.https import site_ssl_context
from monitor.results import RegionStatus, RegionVerdict
from monitor.rounds import RoundRunner, build_probes
from monitor.scheduler import PeriodicJob, RoundScheduler
from monitor.store import Store
from monitor.trafficmanager.azure import AzureTrafficManager
from monitor.trafficmanager.compare import EndpointView, endpoint_views
from monitor.trafficmanager.port import TrafficManager
from monitor.trafficmanager.watch import Reading, TrafficManagerWatch

__all__ = ["HealthAnswer", "Service", "build_service"]

log = structlog.get_logger("monitor.service")

# Sections docs/architecture.md defines whose behaviour later releases add: accepted and validated now
# so configurations written against the contract load, and named at start so nobody
# believes they act yet.
_NOT_YET_ACTIVE = ("alerts", "peers")
ACCESS_CHECK_EVERY = timedelta(hours=1)
# How long a stop waits for jobs already running before cancelling them. A stop must be over
# within 10 s (well inside Kubernetes' 30 s grace period) whatever a dependency is doing:
# this, plus the HTTP drain before it and closing the clients and the store after it.
STOP_GRACE = timedelta(seconds=3)


@dataclass(frozen=True, slots=True)
class HealthAnswer:
    """What `/healthz` answers: a status code and a tiny body, computed from memory."""

    status_code: int
    body: bytes


class Service:
    """Rounds on a schedule, results into the store, verdicts in memory for the API."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        ssl_context: ssl.SSLContext | None = None,
        traffic_manager: TrafficManager | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.store = Store(
            config.storage.path, clock=self.clock, retention=config.storage.retention
        )
        context = ssl_context or site_ssl_context(config)
        self.rounds = RoundRunner(build_probes(config, self.clock, context), self.clock)
        self.dns = DnsRound(config, context) if config.checks.dns is not None else None
        self.dns_findings: list[DnsFinding] = []
        self.dns_checked_at: float | None = None
        self._dns_statuses: dict[tuple[str, str | None], str] = {}
        self._tm_findings: set[tuple[str, str]] = set()
        self.traffic_manager: TrafficManagerWatch | None = None
        periodic: list[PeriodicJob] = []
        if config.traffic_manager is not None:
            client = traffic_manager or AzureTrafficManager(config.traffic_manager)
            self.traffic_manager = TrafficManagerWatch(client, self.clock)
            periodic += [
                PeriodicJob(
                    "traffic-manager",
                    "Traffic Manager read",
                    config.traffic_manager.interval,
                    self.read_traffic_manager,
                ),
                PeriodicJob(
                    "traffic-manager-access",
                    "Traffic Manager write access",
                    ACCESS_CHECK_EVERY,
                    self.traffic_manager.check_access,
                ),
            ]
        if config.checks.dns is not None:
            periodic.append(
                PeriodicJob("dns", "DNS round", config.checks.dns.interval, self.run_dns)
            )
        https = config.checks.https
        self.scheduler = RoundScheduler(
            self.rounds.regions,
            interval=https.interval,
            jitter=https.effective_jitter,
            run_round=self.run_round,
            housekeeping=self.housekeeping,
            periodic=periodic,
        )
        self._rounds_done: dict[str, int] = {}

    async def start(self) -> None:
        await self.store.open()
        for section in _NOT_YET_ACTIVE:
            if _configured(self.config, section):
                log.warning("section_not_active_yet", section=section)
        self.scheduler.start()
        log.info("service_started", regions=self.rounds.regions)

    async def stop(self) -> None:
        """Stop the rounds (those still running after STOP_GRACE are cancelled), close the
        clients without waiting for a call in flight, and close the store cleanly. Safe to
        call after a failed `start()`."""
        await self.scheduler.shutdown(grace=self._stop_grace().total_seconds())
        if self.traffic_manager is not None:
            await self.traffic_manager.client.close()
        if self.dns is not None:
            await self.dns.close()
        await self.store.close()
        log.info("service_stopped")

    def _stop_grace(self) -> timedelta:
        """How long a job already running may still need, up to STOP_GRACE: let a round
        finish rather than cut it, unless it waits on something that does not answer."""
        longest = self.config.checks.https.timeout
        if self.config.checks.dns is not None:
            longest = max(longest, self.config.checks.dns.timeout)
        if self.traffic_manager is not None:
            longest = STOP_GRACE  # an SDK call can take 25 s (its deadline)
        return min(longest + timedelta(seconds=1), STOP_GRACE)

    async def run_round(self, region: str) -> RegionVerdict:
        """One round of `region`, recorded. Never raises: a failure here is logged, and the
        next round runs on schedule."""
        previous = self.store.latest().get(region)
        verdict = await self.rounds.run(region)
        try:
            await self.store.record(verdict)
        except StoreError:
            pass  # the store tells when writes start failing and when they recover, once each
        except Exception:
            log.exception("round_not_stored", region=region)
        self._rounds_done[region] = self._rounds_done.get(region, 0) + 1
        log.info(
            "round_finished",
            region=region,
            status=verdict.status.value,
            reasons=list(verdict.reasons),
        )
        if previous is None:
            # A region's first verdict is where it starts, not a change worth a warning.
            log.info("region_first_verdict", region=region, status=verdict.status.value)
        elif previous.status is not verdict.status:
            log.warning(
                "region_status_changed",
                region=region,
                previous=previous.status.value,
                status=verdict.status.value,
            )
        return verdict

    async def read_traffic_manager(self) -> Reading | None:
        """One `traffic_manager` check: read, record, and log what disagrees with our view.
        The reading (None with no `traffic_manager` configured)."""
        if self.traffic_manager is None:
            return None
        reading = await self.traffic_manager.read()
        try:
            await self.store.record_traffic_manager(reading)
        except StoreError:
            pass  # told by the store, as for rounds
        except Exception:
            log.exception("traffic_manager_reading_not_stored")
        current = {(r, f) for r, view in self.endpoint_views().items() for f in view.findings}
        # Logged when they appear and when they clear, not on every read.
        for region, finding in sorted(current - self._tm_findings):
            log.warning("traffic_manager_finding", region=region, finding=finding)
        for region, finding in sorted(self._tm_findings - current):
            log.info("traffic_manager_finding_cleared", region=region, finding=finding)
        self._tm_findings = current
        return reading

    async def run_dns(self) -> list[DnsFinding]:
        """One DNS round: judged with Traffic Manager's last view (read again before an answer
        is called a mismatch, unless its last read failed), recorded, and logged."""
        if self.dns is None:
            return []
        watch = self.traffic_manager
        if watch is None:
            findings = await self.dns.run(None)
        else:

            async def read_again() -> Reading | None:
                latest = watch.latest
                if latest is not None and latest.profile is None:
                    # Traffic Manager is failing: another read would most likely fail too, after
                    # up to its deadline, holding the round past its interval and adding to any
                    # throttling. The next scheduled read tries again.
                    return latest
                return await self.read_traffic_manager()

            findings = await self.dns.run(watch.profile, refresh=read_again)
        checked_at = self.clock.now().timestamp()
        self.dns_findings, self.dns_checked_at = findings, checked_at
        try:
            await self.store.record_dns(checked_at, findings)
        except StoreError:
            pass  # told by the store, as for rounds
        except Exception:
            log.exception("dns_round_not_stored")
        statuses = {(f.answer.resolver, f.answer.vantage): f for f in findings}
        for key, f in statuses.items():
            # Logged when an answer's status changes, not on every round.
            if self._dns_statuses.get(key) == f.status:
                continue
            event = (
                "dns_answer_wrong" if f.status not in ("ok", "failover") else "dns_answer_changed"
            )
            level = log.warning if event == "dns_answer_wrong" else log.info
            level(event, resolver=key[0], vantage=key[1], status=f.status, reason=f.reason)
        self._dns_statuses = {key: f.status for key, f in statuses.items()}
        if self.site_nxdomain:
            log.critical("dns_site_nxdomain", hostname=self.config.site.hostname)
        return findings

    @property
    def site_nxdomain(self) -> bool:
        """Every resolver says the site's name does not exist: a site-wide emergency."""
        return bool(self.dns_findings) and all(f.status == "nxdomain" for f in self.dns_findings)

    def endpoint_views(self) -> dict[str, EndpointView]:
        """Every region's endpoint as Traffic Manager last showed it (empty before a read)."""
        profile = self.traffic_manager.profile if self.traffic_manager else None
        if profile is None:
            return {}
        statuses = {region: v.status for region, v in self.verdicts().items()}
        return endpoint_views(self.config, profile, statuses)

    async def housekeeping(self) -> None:
        try:
            deleted = await self.store.prune()
        except StoreError:
            return  # told by the store, as for rounds
        except Exception:
            log.exception("prune_failed")
            return
        if deleted:
            log.info("history_pruned", rounds=deleted)

    def verdicts(self) -> Mapping[str, RegionVerdict]:
        """The latest verdict of every configured region; unknown until its first round."""
        latest = self.store.latest()
        return {
            name: latest.get(name)
            or RegionVerdict(name, RegionStatus.UNKNOWN, self.clock.now(), ("no round yet",))
            for name in self.config.regions
        }

    def rounds_done(self, region: str) -> int:
        """Rounds of `region` finished by this process (history from before a restart not counted)."""
        return self._rounds_done.get(region, 0)

    def readiness(self) -> list[str]:
        """Why the service is not ready; empty when it is."""
        problems = []
        if not self.scheduler.running:
            problems.append("scheduler not running")
        waiting = [r for r in self.config.regions if not self._rounds_done.get(r)]
        if waiting:
            problems.append(f"first round not done: {', '.join(waiting)}")
        if self.config.failover.mode == "enforce":
            access = self.traffic_manager.access if self.traffic_manager else None
            if access is None or not access.can_write:
                detail = (
                    "no traffic_manager configured"
                    if self.traffic_manager is None
                    else (
                        "not checked yet"
                        if access is None
                        else (access.access.detail if access.access else access.error or "")
                    )
                )
                problems.append(f"enforce mode, cannot write to Traffic Manager: {detail}")
        return problems

    def warnings(self) -> list[str]:
        """What is wrong while the service stays ready: each one line, for `/readyz` and the
        status page. A failing history store is one: probing, verdicts and `/healthz` work from
        memory, and taking the pod out of its Service would take `/healthz`, Traffic Manager's
        probe target, with it, failing the region over for the monitor's own disk."""
        failure = self.store.writes.failure
        return [failure.describe()] if failure is not None else []

    def health(self, region: str | None) -> HealthAnswer:
        """The `/healthz` answer for `region` (or, with None, for `api.local_region` or the
        service itself). 503 only when the policy has decided the region should be out of
        rotation; with no failover policy yet, that never happens: the monitor fails static."""
        region = region or self.config.api.local_region
        if region is None:
            return HealthAnswer(200, b'{"service":"ok"}')
        # Region names are lowercase; a header typed `WestEurope` in Traffic Manager still means it.
        region = region.strip().lower() if region.strip().lower() in self.config.regions else region
        if region not in self.config.regions:
            # A mistyped region (say, in TM's custom header) must not take an endpoint out:
            # the monitor fails static. The body says what is wrong.
            body = {"region": region, "serve": True, "status": "unknown region"}
            return HealthAnswer(200, json.dumps(body).encode())
        status = self.verdicts()[region].status.value
        return HealthAnswer(
            200, json.dumps({"region": region, "serve": True, "status": status}).encode()
        )


def build_service(config: Config, *, clock: Clock | None = None) -> Service:
    return Service(config, clock=clock)


def _configured(config: Config, section: str) -> bool:
    value: object = config
    for part in section.split("."):
        value = getattr(value, part)
    return bool(value)
