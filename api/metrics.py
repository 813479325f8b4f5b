"""Prometheus metrics: one registry per app, read at scrape time.

What the engine knows now (verdicts, probe results, the policy's state, Traffic Manager's view,
DNS answers) is read from the current snapshot when Prometheus scrapes, so no probe updates a
metric inline and a scrape always sees one whole snapshot. What happened (events, actions,
deploys, the engine's lag) is counted by an engine subscriber, from the moment the app
started. Alert channels are read from their statuses, held in memory by the service's
alerting (their outbox counted in the background, never by a scrape). docs/metrics.md lists
every family.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.peersview import peers_out
from monitor.engine import Publication
from monitor.events import EventType
from monitor.evidence import ActionFinished
from monitor.policy import Action, Outcome_
from monitor.release import RELEASE
from monitor.results import CheckResult, Outcome
from monitor.service import Service
from monitor.snapshot import Snapshot

__all__ = ["PREFIX", "Metrics"]

PREFIX = "regionwatch_"
# A blindness condition's key without it is the `source` label: `traffic-manager`, `store`,
# `region/<name>`, `alerts/<channel>`, or `dns/<resolver>/<vantage>` (which has no prefix).
_BLIND = "blind/"
# The engine applies an item in well under a millisecond; seconds mean it is starved.
_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The app's registry: a collector over the running service's snapshot, and the counters
    `observe` feeds from the engine's publications."""

    def __init__(self, service: Callable[[], Service | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(service))
        self.events = Counter(
            "regionwatch_events",
            "Events recorded, by type (docs/events.md)",
            ["type"],
            registry=self.registry,
        )
        self.actions = Counter(
            "regionwatch_actions",
            "Decisions about an endpoint that finished, by kind and result",
            ["action", "result"],
            registry=self.registry,
        )
        self.deploys = Counter(
            "regionwatch_deploys",
            "Deploys recorded (marked or detected), by region",
            ["region"],
            registry=self.registry,
        )
        self.lag = Histogram(
            "regionwatch_engine_lag_seconds",
            "Seconds from an item of evidence's submission to the snapshot it made",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        # Every known series at zero from the start, so that `increase()` sees the first one.
        for event_type in EventType:
            self.events.labels(event_type.value)
        for action in Action:
            for result in Outcome_:
                self.actions.labels(action.value, result.value)

    async def observe(self, publication: Publication) -> None:
        """Count what one publication carries (an engine subscriber)."""
        self.lag.observe(publication.lag)
        for event in publication.events:
            self.events.labels(event.type.value).inc()
            if event.type is EventType.DEPLOY_RECORDED and event.region is not None:
                self.deploys.labels(event.region).inc()
        evidence = publication.evidence
        if isinstance(evidence, ActionFinished):
            self.actions.labels(evidence.action.value, evidence.outcome.value).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


class SnapshotCollector(Collector):
    """The current state, from the snapshot the service holds at scrape time."""

    def __init__(self, service: Callable[[], Service | None]) -> None:
        self._service = service

    def describe(self) -> Iterable[Metric]:
        return [*_families().values(), *_alert_families(None)]

    def collect(self) -> Iterable[Metric]:
        families = _families()
        service = self._service()
        families["build"].add_metric([RELEASE], 1.0)
        if service is not None:
            snapshot = service.snapshot
            _fill(families, snapshot, service.engine.lag)
            _fill_peers(families, service, snapshot)
        return [*families.values(), *_alert_families(service)]


def _alert_families(service: Service | None) -> list[Metric]:
    """Each alert channel's deliveries since the start (every result at zero from the start)
    and its outbox as last counted."""
    deliveries = CounterMetricFamily(
        "regionwatch_alert_deliveries",
        "Alert delivery attempts since the start, by channel and result",
        labels=["channel", "result"],
    )
    pending = GaugeMetricFamily(
        "regionwatch_alert_outbox_pending",
        "Alerts queued in the store for the channel, not yet delivered",
        labels=["channel"],
    )
    dead = GaugeMetricFamily(
        "regionwatch_alert_dead_letters",
        "Dead letters kept in the store for the channel (alerts given up)",
        labels=["channel"],
    )
    alerting = service.alerting if service is not None else None
    for name, status in (alerting.statuses if alerting is not None else {}).items():
        deliveries.add_metric([name, "delivered"], status.delivered_total)
        deliveries.add_metric([name, "failed"], status.failed_total)
        deliveries.add_metric([name, "dead"], status.dead_total)
        pending.add_metric([name], status.pending)
        dead.add_metric([name], status.dead_stored)
    return [deliveries, pending, dead]


def _families() -> dict[str, GaugeMetricFamily]:
    g = GaugeMetricFamily
    return {
        "build": g("regionwatch_build_info", "Always 1: the running release", labels=["version"]),
        "success": g(
            "regionwatch_probe_success",
            "1 when the check's latest result was up, 0 when down or not judged",
            labels=["region", "check"],
        ),
        "duration": g(
            "regionwatch_probe_duration_seconds",
            "How long the check's latest probe took",
            labels=["region", "check"],
        ),
        "expiry": g(
            "regionwatch_probe_ssl_earliest_cert_expiry",
            "The certificate's notAfter as a Unix time, from the check's latest probe",
            labels=["region", "check"],
        ),
        "status": g(
            "regionwatch_region_status",
            "1 for the region's current verdict (healthy, degraded, failing, unknown)",
            labels=["region", "status"],
        ),
        "streak": g(
            "regionwatch_region_streak_rounds",
            "Consecutive rounds with the region's current verdict",
            labels=["region"],
        ),
        "policy": g(
            "regionwatch_policy_state",
            "1 for the failover policy's current state of the region",
            labels=["region", "state"],
        ),
        "enabled": g(
            "regionwatch_endpoint_enabled",
            "1 when the region's Traffic Manager endpoint is Enabled, 0 when Disabled",
            labels=["region", "endpoint"],
        ),
        "monitor": g(
            "regionwatch_endpoint_monitor_status",
            "1 for Traffic Manager's monitor status of the region's endpoint",
            labels=["region", "endpoint", "status"],
        ),
        "disagrees": g(
            "regionwatch_traffic_manager_disagrees",
            "1 when Traffic Manager's view of the region contradicts our probes",
            labels=["region"],
        ),
        "dns_region": g(
            "regionwatch_dns_answer_region",
            "1 for the region a resolver's answer sends a vantage point to (none: not placed)",
            labels=["resolver", "vantage", "region"],
        ),
        "dns_status": g(
            "regionwatch_dns_answer_status",
            "1 for the status of a resolver's answer for a vantage point (docs/dns.md)",
            labels=["resolver", "vantage", "status"],
        ),
        "peer_up": g(
            "regionwatch_peer_up",
            "1 when the peer's observations count toward a quorum now, 0 otherwise",
            labels=["peer"],
        ),
        "peer_state": g(
            "regionwatch_peer_state",
            "1 for the peer's current state (fresh, waiting, stale, unreachable, "
            "unauthenticated, malformed)",
            labels=["peer", "state"],
        ),
        "peer_age": g(
            "regionwatch_peer_observation_age_seconds",
            "How old the peer's latest observation of the region is now",
            labels=["peer", "region"],
        ),
        "version": g(
            "regionwatch_snapshot_version",
            "The version of the engine's current snapshot (one more per item applied)",
        ),
        "made": g(
            "regionwatch_snapshot_timestamp_seconds",
            "When the engine's current snapshot was made, as a Unix time",
        ),
        "last_lag": g(
            "regionwatch_engine_last_lag_seconds",
            "Seconds from submission to publication of the last item the engine applied",
        ),
        "blind": g(
            "regionwatch_blind",
            "1 for each open monitor.blind condition, by what the monitor cannot see",
            labels=["source"],
        ),
    }


def _fill(families: dict[str, GaugeMetricFamily], snapshot: Snapshot, lag: float) -> None:
    policy = snapshot.policy
    for name, view in snapshot.regions.items():
        for result in _latest_by_check(view.verdict.results):
            labels = [name, result.check]
            families["success"].add_metric(labels, 1.0 if result.outcome is Outcome.UP else 0.0)
            families["duration"].add_metric(labels, result.duration.total_seconds())
            expiry = _cert_expiry(result.facts.get("cert_not_after"))
            if expiry is not None:
                families["expiry"].add_metric(labels, expiry)
        families["status"].add_metric([name, view.status.value], 1.0)
        if view.streak is not None:
            families["streak"].add_metric([name], view.streak.rounds)
        stance = policy.regions.get(name) if policy is not None else None
        if stance is not None:
            families["policy"].add_metric([name, stance.stance.value], 1.0)
        endpoint = view.endpoint
        if endpoint is not None and endpoint.state is not None:
            state = endpoint.state
            families["enabled"].add_metric([name, endpoint.endpoint], float(state.enabled))
            if state.monitor_status is not None:
                families["monitor"].add_metric(
                    [name, endpoint.endpoint, state.monitor_status.value], 1.0
                )
        if endpoint is not None:
            families["disagrees"].add_metric([name], float(endpoint.disagreement is not None))
    if snapshot.dns is not None:
        seen: set[tuple[str, str]] = set()
        for finding in snapshot.dns.findings:
            key = (finding.answer.resolver, finding.answer.vantage or "")
            if key in seen:
                continue
            seen.add(key)
            families["dns_region"].add_metric([*key, finding.region or "none"], 1.0)
            families["dns_status"].add_metric([*key, finding.status.value], 1.0)
    for problem, condition in snapshot.conditions.items():
        if condition.type is EventType.MONITOR_BLIND:
            families["blind"].add_metric([problem.removeprefix(_BLIND)], 1.0)
    families["version"].add_metric([], snapshot.version)
    families["made"].add_metric([], snapshot.made_at.timestamp())
    families["last_lag"].add_metric([], lag)


def _fill_peers(
    families: dict[str, GaugeMetricFamily], service: Service, snapshot: Snapshot
) -> None:
    """The peers as `GET /api/v1/peers` shows them, from the same snapshot."""
    config = service.config
    if not config.peers:
        return
    view = peers_out(snapshot, config, service.clock.now())
    for peer in view.peers:
        families["peer_up"].add_metric([peer.name], float(peer.counted))
        families["peer_state"].add_metric([peer.name, peer.state], 1.0)
    for cell in view.matrix:
        if cell.vantage != view.vantage and cell.age_s is not None:
            families["peer_age"].add_metric([cell.vantage, cell.region], cell.age_s)


def _latest_by_check(results: Iterable[CheckResult]) -> Iterator[CheckResult]:
    """One result per check (the last one), so no series is exposed twice."""
    by_check = {r.check: r for r in results}
    return iter(by_check.values())


def _cert_expiry(fact: object) -> float | None:
    if not isinstance(fact, str):
        return None
    try:
        return datetime.fromisoformat(fact).timestamp()
    except ValueError:
        return None
