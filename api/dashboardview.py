"""What the dashboard shows, gathered in one place: the snapshot for the present, the store for
the history (latency sparklines, uptime, the timeline).

The templates only lay this out; every decision about what to say lives here, in
`api.headline` and in the API's response models (the same words as `/api/v1`). A history store
that cannot be read leaves the history out and says so: the present is still shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.alertmodels import ChannelOut, DeadLetterOut, channel_out, dead_letter_out
from api.headline import Headline, site_headline
from api.models import DnsAnswerOut, EventOut, RegionOut, dns_answer_out, event_out, region_out
from api.peersview import CellOut, PeerOut, PeersOut, peers_out
from api.sparkline import sparkline_points
from monitor.controls import Control
from monitor.errors import StoreError
from monitor.eventstore import EventQuery
from monitor.quorum import DECIDER_UNREACHABLE
from monitor.results import CheckResult, RegionStatus
from monitor.service import Service
from monitor.trafficmanager.compare import Disagreement
from monitor.warnings import Warning

__all__ = [
    "UPTIME_PERIODS",
    "AlertsPanel",
    "DashboardView",
    "DnsMatrix",
    "RegionCard",
    "Uptime",
    "VantagePanel",
    "VantageRow",
    "dashboard_view",
    "vantage_panel",
]

# The periods uptime is shown over, as labelled on the page.
UPTIME_PERIODS: tuple[tuple[str, timedelta], ...] = (
    ("24 h", timedelta(hours=24)),
    ("7 d", timedelta(days=7)),
    ("30 d", timedelta(days=30)),
)
_SPARK_ROUNDS = 30
_TIMELINE_LENGTH = 30
_DEAD_LETTERS_SHOWN = 10


@dataclass(frozen=True, slots=True)
class Uptime:
    """Serving rounds (healthy or degraded) over the judged ones (unknown rounds left out) in
    one period; `percent` None when no round was judged (or the store could not say)."""

    period: str
    percent: float | None
    rounds: int


@dataclass(frozen=True, slots=True)
class RegionCard:
    region: RegionOut
    tm_online_we_failing: bool  # the case regionwatch exists for: the loudest thing on a card
    latencies: tuple[float, ...]  # the slowest check of each recent round, oldest first
    sparkline: str  # SVG polyline points
    cert_days_left: float | None
    release: str | None
    cache_status: str | None
    uptime: tuple[Uptime, ...]
    pin: Control | None
    silence: Control | None


@dataclass(frozen=True, slots=True)
class DnsMatrix:
    """Resolvers (rows) × vantage points (columns); a cell is None where no answer was had."""

    vantages: tuple[str | None, ...]
    rows: tuple[tuple[str, tuple[DnsAnswerOut | None, ...]], ...]
    checked_at: datetime | None


@dataclass(frozen=True, slots=True)
class VantageRow:
    """One vantage point's latest verdict of each region (the panel's columns, in order; None
    where it reported none), with its peer's health (None: this instance)."""

    vantage: str
    peer: PeerOut | None
    cells: tuple[CellOut | None, ...]


@dataclass(frozen=True, slots=True)
class VantagePanel:
    """Vantage points × regions, this instance's row first, and each peer's health: the
    layout of `GET /api/v1/peers` (api.peersview), never a computation of its own."""

    role: str
    regions: tuple[str, ...]
    rows: tuple[VantageRow, ...]
    peers: tuple[PeerOut, ...]
    decider: str | None  # on an observer: whose decisions /healthz repeats
    decider_unreachable: bool  # ... none known fresh: /healthz answers 200


@dataclass(frozen=True, slots=True)
class AlertsPanel:
    """The alert channels' health and the latest dead letters, each with the command that
    sends it again (the page never writes: a resend needs the bearer token)."""

    channels: tuple[ChannelOut, ...]
    dead_letters: tuple[tuple[DeadLetterOut, str], ...]  # newest first, with its resend line
    more: bool  # more dead letters than shown: the API lists them all


@dataclass(frozen=True, slots=True)
class DashboardView:
    hostname: str
    made_at: datetime
    version: int
    headline: Headline
    cards: tuple[RegionCard, ...]
    dns: DnsMatrix | None  # None: DNS is not checked
    vantage_points: VantagePanel | None  # None: no peers configured, one vantage point
    timeline: tuple[EventOut, ...]
    pause: Control | None
    warnings: tuple[Warning, ...]
    tm_unreadable: str | None  # why Traffic Manager cannot be read, and since when
    history_error: str | None  # why the history is not shown
    alerts: AlertsPanel | None  # None: no alert channels
    refresh: int  # seconds between plain refreshes without JavaScript
    lab: bool  # the lab's fault panel is mounted
    stream: bool  # the live stream is served: the page listens instead of polling


async def dashboard_view(service: Service, *, lab: bool, stream: bool) -> DashboardView:
    """The whole dashboard as of the service's current snapshot."""
    snapshot = service.snapshot
    now = snapshot.made_at
    history_error: str | None = None
    cards = []
    for name, view in snapshot.regions.items():
        rounds: list[list[CheckResult]] = []
        uptime: list[Uptime] = []
        try:
            rounds = [
                list(v.results)
                for v in await service.store.recent_rounds(name, limit=_SPARK_ROUNDS)
            ]
            for label, period in UPTIME_PERIODS:
                counts = await service.store.status_counts(name, since=now - period)
                uptime.append(_uptime(label, counts))
        except StoreError as e:
            history_error = str(e)
            uptime = [Uptime(label, None, 0) for label, _ in UPTIME_PERIODS]
        latencies = tuple(
            max(r.latency_ms for r in results if r.latency_ms is not None)
            for results in rounds
            if any(r.latency_ms is not None for r in results)
        )
        results = view.verdict.results
        endpoint = view.endpoint
        cards.append(
            RegionCard(
                region=region_out(view, snapshot.policy),
                tm_online_we_failing=endpoint is not None
                and endpoint.disagreement is Disagreement.TM_ONLINE_WE_FAILING,
                latencies=latencies,
                sparkline=sparkline_points(latencies),
                cert_days_left=_least_fact(results, "cert_days_left"),
                release=next((r.release for r in results if r.release), None),
                cache_status=next(
                    (str(r.facts["cache_status"]) for r in results if r.facts.get("cache_status")),
                    None,
                ),
                uptime=tuple(uptime),
                pin=snapshot.controls.pin(name, now),
                silence=snapshot.controls.silence(name, now),
            )
        )
    timeline: list[EventOut] = []
    try:
        stored = await service.store.events(EventQuery(limit=_TIMELINE_LENGTH))
        timeline = [event_out(s) for s in stored]
    except StoreError as e:
        history_error = str(e)
    alerts: AlertsPanel | None = None
    try:
        alerts = await _alerts_panel(service)
    except StoreError as e:
        history_error = str(e)
    tm = snapshot.traffic_manager
    outage = tm.outage if tm is not None else None
    return DashboardView(
        hostname=service.config.site.hostname,
        made_at=now,
        version=snapshot.version,
        headline=site_headline(snapshot),
        cards=tuple(cards),
        dns=_matrix(service) if snapshot.dns is not None else None,
        vantage_points=vantage_panel(
            peers_out(snapshot, service.config, service.clock.now()), list(service.config.regions)
        )
        if service.config.peers
        else None,
        timeline=tuple(timeline),
        pause=snapshot.controls.pause(now),
        warnings=snapshot.warnings,
        tm_unreadable=(
            f"Traffic Manager could not be read since {datetime.fromtimestamp(outage.since, UTC):%Y-%m-%d %H:%M:%S} UTC: {outage.error}"
            if outage is not None
            else None
        ),
        history_error=history_error,
        alerts=alerts,
        refresh=max(1, round(service.config.checks.https.interval.total_seconds())),
        lab=lab,
        stream=stream,
    )


async def _alerts_panel(service: Service) -> AlertsPanel | None:
    alerting = service.alerting
    if alerting is None:
        return None
    counts = await service.store.outbox_counts()
    statuses = alerting.statuses
    channels = tuple(
        channel_out(
            c, statuses.get(c.name), counts.get(c.name, {}), alerting.dispatchers[c.name].in_memory
        )
        for c in service.config.alerts
        if c.name in alerting.dispatchers
    )
    rows = await service.store.dead_letters(limit=_DEAD_LETTERS_SHOWN + 1)
    base = service.config.api.public_url or "$REGIONWATCH_URL"
    dead = tuple(
        (
            dead_letter_out(row),
            'curl -X POST -H "Authorization: Bearer $REGIONWATCH_TOKEN" '
            f'"{base.rstrip("/")}/api/v1/alerts/dead-letters/{row["key"]}/resend?by=$USER"',
        )
        for row in rows[:_DEAD_LETTERS_SHOWN]
    )
    return AlertsPanel(channels, dead, len(rows) > _DEAD_LETTERS_SHOWN)


def _uptime(label: str, counts: Mapping[RegionStatus, int]) -> Uptime:
    serving = counts.get(RegionStatus.HEALTHY, 0) + counts.get(RegionStatus.DEGRADED, 0)
    judged = serving + counts.get(RegionStatus.FAILING, 0)
    return Uptime(label, 100.0 * serving / judged if judged else None, judged)


def _least_fact(results: tuple[CheckResult, ...], name: str) -> float | None:
    values = [v for r in results if isinstance(v := r.facts.get(name), int | float)]
    return float(min(values)) if values else None


def vantage_panel(peers: PeersOut, regions: Sequence[str]) -> VantagePanel:
    """`GET /api/v1/peers`'s answer laid out as the panel shows it: one row per vantage point
    (this instance's first), one column per region in `regions`' order."""
    cells = {(c.vantage, c.region): c for c in peers.matrix}
    by_name = {p.name: p for p in peers.peers}
    rows = tuple(
        VantageRow(
            vantage=name,
            peer=by_name.get(name) if i else None,
            cells=tuple(cells.get((name, region)) for region in regions),
        )
        for i, name in enumerate(peers.vantage_points)
    )
    return VantagePanel(
        role=peers.role,
        regions=tuple(regions),
        rows=rows,
        peers=tuple(peers.peers),
        decider=peers.decider,
        decider_unreachable=peers.decider == DECIDER_UNREACHABLE,
    )


def _matrix(service: Service) -> DnsMatrix:
    view = service.snapshot.dns
    assert view is not None
    answers = [dns_answer_out(f) for f in view.findings]
    vantages = tuple(dict.fromkeys(a.vantage for a in answers))
    resolvers = tuple(dict.fromkeys(a.resolver for a in answers))
    cells = {(a.resolver, a.vantage): a for a in answers}
    return DnsMatrix(
        vantages=vantages,
        rows=tuple((r, tuple(cells.get((r, v)) for v in vantages)) for r in resolvers),
        checked_at=view.checked_at,
    )
