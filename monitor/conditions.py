"""Which conditions are open, judged from the state the engine is about to publish.

Each family of conditions is judged only when its evidence is at hand: before the first
Traffic Manager read after a restart, the conditions that need a profile (disagreements,
drift) stay as they were, rather than closing and opening again; a region that cannot be
judged this round (ERROR only) keeps its condition. A condition that stays open keeps the time
it began, so it yields no new event.

Some conditions open only once what they describe has lasted (`alerting.drift_after`,
`alerting.disabled_too_long`): until then the time it was first seen is kept in `seen`, handed
back with the conditions, so a rolling deploy shorter than the threshold never opens one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.alerts.health import ChannelTrouble
from monitor.config import Config
from monitor.deploys import origin_release
from monitor.dnsmap import DnsFinding
from monitor.durations import format_duration
from monitor.events import Condition, EventType, Evidence, Severity
from monitor.results import CheckResult, DnsStatus, OnFailure, Outcome, RegionStatus
from monitor.storehealth import WriteFailure

__all__ = ["BLIND_READS", "BLIND_ROUNDS", "Judged", "RegionFacts", "Scope", "judge_conditions"]

# Rounds of a region with nothing but ERROR results before the monitor says it is blind there
# (after three the failover policy calls the region inconclusive; blind is when that lasts);
# failed Traffic Manager reads in a row before it says so of Traffic Manager.
BLIND_ROUNDS = 6
BLIND_READS = 3
_ALERTS = "blind/alerts/"


@dataclass(frozen=True, slots=True)
class RegionFacts:
    """What the conditions of one region are judged from."""

    name: str
    status: RegionStatus
    reasons: tuple[str, ...]
    results: tuple[CheckResult, ...]
    streak_rounds: int  # rounds in the current streak (0: no round yet)
    streak_since: datetime | None = None  # when the current streak's first round was decided
    disagreement: str | None = None  # Traffic Manager disagreeing, in words (None: agrees)
    tm_monitor_status: str | None = None
    drift: str | None = None
    profile_known: bool = False  # a Traffic Manager profile has been read
    inconclusive: str | None = None  # why the failover policy cannot decide, when it cannot
    flapping: str | None = None  # why re-enabling is left to a person (failover.flap_limit)
    # Disabled in Traffic Manager's profile: by whom in words (None: enabled, or not known),
    # why, and since when when the audit trail knows (else: since this process first saw it).
    disabled_by: str | None = None
    disabled_detail: str = ""
    disabled_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """Which conditions an item of evidence can change: those of the regions named (None: of
    every region), of DNS, and of the monitor as a whole. The rest stand as they were, so
    a region's round costs that region's judging, not every region's."""

    regions: frozenset[str] | None = None
    dns: bool = True
    monitor: bool = True


EVERYTHING = Scope()


def _owner(key: str) -> tuple[str, str | None]:
    """What a condition's key belongs to: ("region", name), ("dns", None), ("monitor", None),
    or ("regions", None) for those about the regions together (drifting apart)."""
    kind, _, rest = key.partition("/")
    if kind == "dns":
        return "dns", None
    if kind == "drifting":
        return "regions", None
    if kind == "peer":
        return "monitor", None
    if kind == "blind":
        sub, _, name = rest.partition("/")
        return ("region", name) if sub == "region" else ("monitor", None)
    return "region", rest


@dataclass(frozen=True, slots=True)
class _Spec:
    type: EventType
    severity: Severity
    region: str | None
    summary: str
    evidence: Evidence = field(default_factory=dict)
    since: datetime | None = None  # when it began, when the evidence says; else first seen
    lasting: timedelta | None = None  # opens only once it has lasted this long (None: at once)


@dataclass(frozen=True, slots=True)
class Judged:
    """The open conditions, keyed, and when each condition still waiting to have lasted long
    enough was first seen (to hand back at the next judging)."""

    conditions: dict[str, Condition]
    seen: dict[str, datetime]


def judge_conditions(
    *,
    config: Config,
    regions: Iterable[RegionFacts],
    dns: Iterable[DnsFinding] | None,
    traffic_manager_read: bool,
    tm_failed_reads: int,
    tm_error: str | None,
    store_failure: WriteFailure | None,
    before: Mapping[str, Condition],
    now: datetime,
    scope: Scope = EVERYTHING,
    serving: Mapping[str, Sequence[CheckResult]] | None = None,
    seen: Mapping[str, datetime] | None = None,
    alert_channels: Mapping[str, ChannelTrouble | None] | None = None,
    absent_peers: Mapping[str, tuple[str, str]] | None = None,
) -> Judged:
    """Every open condition, keyed; `before` are those of the previous snapshot, `seen` the
    first sightings the previous judging handed back. `dns` is None until a DNS round has
    been judged; `traffic_manager_read` is false until Traffic Manager has been read (or
    tried) by this process; `alert_channels` holds the alert channels whose health is known
    (their trouble, or None); `absent_peers` the configured peers whose observations do not
    count now, as (state, why). Only the conditions in `scope` are judged (`regions` gives the
    facts of at least the regions it names); the others are `before`'s. `serving` holds the
    current results of every region whose release and certificate count towards
    `regions.drifting` (judged whenever a region is)."""
    seen = seen or {}
    specs: dict[str, _Spec] = {}
    carried: list[str] = []  # keys (or key prefixes ending in /) kept as they were
    judged_regions = set()
    for region in regions:
        if scope.regions is None or region.name in scope.regions:
            judged_regions.add(region.name)
            _region_conditions(config, region, specs, carried)
    if judged_regions and serving is not None:
        _drift_conditions(config, serving, specs, carried)
    if scope.dns:
        if dns is None:
            carried.append("dns/")
        else:
            for finding in dns:
                _dns_condition(finding, specs)
    if not scope.monitor:
        pass
    elif not traffic_manager_read:
        carried.append("blind/traffic-manager")
    elif tm_failed_reads >= BLIND_READS:
        specs["blind/traffic-manager"] = _Spec(
            EventType.MONITOR_BLIND,
            Severity.WARNING,
            None,
            f"Traffic Manager could not be read {tm_failed_reads} times in a row: {tm_error}",
            {"failed_reads": tm_failed_reads, "error": tm_error},
        )
    if scope.monitor and store_failure is not None:
        specs["blind/store"] = _Spec(
            EventType.MONITOR_BLIND,
            Severity.WARNING,
            None,
            store_failure.describe(),
            {"since": store_failure.since.isoformat(), "error": store_failure.error},
        )
    if scope.monitor:
        _alert_conditions(config, alert_channels or {}, before, specs, carried)
        for peer, (state, why) in (absent_peers or {}).items():
            specs[f"peer/{peer}"] = _Spec(
                EventType.PEER_ABSENT,
                Severity.WARNING,
                None,
                f"peer {peer} is {why}: its observations are not counted",
                {"peer": peer, "state": state, "detail": why},
            )
    conditions: dict[str, Condition] = {}
    waiting: dict[str, datetime] = {}
    for key, spec in specs.items():
        old = before.get(key)
        same = old is not None and old.type is spec.type
        since = old.since if same and old is not None else spec.since or now
        if spec.lasting is not None and not same:
            # Open after a restart: it stays open (its start came back from the store).
            since = spec.since or seen.get(key) or now
            waiting[key] = since
            if now - since < spec.lasting:
                continue
        conditions[key] = Condition(
            key, spec.type, spec.severity, spec.region, since, spec.summary, spec.evidence
        )

    def kept(key: str) -> bool:
        owner, name = _owner(key)
        in_scope = (
            (owner == "region" and name in judged_regions)
            or (owner == "regions" and bool(judged_regions) and serving is not None)
            or (owner == "dns" and scope.dns)
            or (owner == "monitor" and scope.monitor)
        )
        return not in_scope or any(
            key == c or (c.endswith("/") and key.startswith(c)) for c in carried
        )

    for key, old in before.items():
        if key not in conditions and kept(key):
            conditions[key] = old
    for key, first in seen.items():
        if key not in waiting and key not in specs and kept(key):
            waiting[key] = first
    return Judged(conditions, waiting)


def _alert_conditions(
    config: Config,
    channels: Mapping[str, ChannelTrouble | None],
    before: Mapping[str, Condition],
    specs: dict[str, _Spec],
    carried: list[str],
) -> None:
    """`blind/alerts/<channel>` while a channel cannot deliver. One read back after a restart
    stands until the channel is heard of (it delivers, or fails), unless the channel is no
    longer configured."""
    for channel, trouble in channels.items():
        if trouble is not None:
            specs[f"{_ALERTS}{channel}"] = _Spec(
                EventType.MONITOR_BLIND,
                Severity.WARNING,
                None,
                trouble.describe(channel),
                {
                    "channel": channel,
                    "error": trouble.error,
                    "dead_letters": trouble.dead_letters,
                    "failures": trouble.failures,
                },
                trouble.since,
            )
    configured = {c.name for c in config.alerts}
    for key in before:
        channel = key.removeprefix(_ALERTS)
        if key.startswith(_ALERTS) and channel not in channels and channel in configured:
            carried.append(key)


def _region_conditions(
    config: Config, region: RegionFacts, specs: dict[str, _Spec], carried: list[str]
) -> None:
    name = region.name
    judged = region.status is not RegionStatus.UNKNOWN
    if region.status is RegionStatus.FAILING:
        specs[f"region/{name}"] = _Spec(
            EventType.REGION_FAILING,
            Severity.CRITICAL,
            name,
            f"{name} failing: {'; '.join(region.reasons)}",
            _region_evidence(region),
            region.streak_since,
        )
    elif region.status is RegionStatus.DEGRADED:
        specs[f"region/{name}"] = _Spec(
            EventType.REGION_DEGRADED,
            Severity.WARNING,
            name,
            f"{name} degraded: {'; '.join(region.reasons)}",
            _region_evidence(region),
            region.streak_since,
        )
    if not judged:
        carried.append(f"region/{name}")
        if region.results and region.streak_rounds >= BLIND_ROUNDS:
            specs[f"blind/region/{name}"] = _Spec(
                EventType.MONITOR_BLIND,
                Severity.WARNING,
                name,
                f"{name} could not be judged for {region.streak_rounds} rounds: "
                + "; ".join(region.reasons),
                _region_evidence(region),
            )
    if region.inconclusive is not None:
        specs[f"policy/{name}"] = _Spec(
            EventType.REGION_INCONCLUSIVE,
            Severity.WARNING,
            name,
            f"{name} inconclusive: {region.inconclusive}",
            {"reason": region.inconclusive, "status": region.status.value},
        )
    if region.flapping is not None:
        specs[f"flap/{name}"] = _Spec(
            EventType.ENDPOINT_FLAPPING,
            Severity.WARNING,
            name,
            f"{name} {region.flapping}",
            {"reason": region.flapping},
        )
    expiring = _expiring_certificate(config, region.results)
    if expiring is not None:
        specs[f"certificate/{name}"] = _Spec(
            EventType.CERTIFICATE_EXPIRING,
            Severity.CRITICAL if expiring[1] <= 1 else Severity.WARNING,
            name,
            f"{name}'s certificate expires in {expiring[1]:.1f} days (seen by {expiring[0]})",
            {"check": expiring[0], "days_left": expiring[1]},
        )
    elif not any(_days_left(r) is not None for r in region.results):
        carried.append(f"certificate/{name}")  # no certificate seen this round: cannot judge
    if not region.profile_known:
        carried += [f"traffic-manager/{name}", f"drift/{name}", f"disabled/{name}"]
        return
    if region.disagreement is not None:
        specs[f"traffic-manager/{name}"] = _Spec(
            EventType.TRAFFIC_MANAGER_DISAGREES,
            Severity.CRITICAL if region.status is RegionStatus.FAILING else Severity.WARNING,
            name,
            f"{name}: {region.disagreement}",
            {
                "our_status": region.status.value,
                "monitor_status": region.tm_monitor_status,
                "reasons": list(region.reasons),
            },
        )
    elif not judged:
        carried.append(f"traffic-manager/{name}")
    if region.drift is not None:
        specs[f"drift/{name}"] = _Spec(
            EventType.CONFIG_DRIFT, Severity.WARNING, name, f"{name}: {region.drift}"
        )
    too_long = config.alerting.disabled_too_long
    if region.disabled_by is not None and too_long is not None:
        since = region.disabled_since
        specs[f"disabled/{name}"] = _Spec(
            EventType.ENDPOINT_DISABLED_TOO_LONG,
            Severity.WARNING,
            name,
            f"{name}'s endpoint disabled by {region.disabled_by} for longer than "
            f"{format_duration(too_long)}"
            + (f": {region.disabled_detail}" if region.disabled_detail else ""),
            {
                "disabled_by": region.disabled_by,
                "detail": region.disabled_detail,
                # When the audit trail does not know, since this process first saw it.
                "since": since.isoformat() if since is not None else None,
                "disabled_too_long": format_duration(too_long),
            },
            since,
            too_long,
        )


def _drift_conditions(
    config: Config,
    serving: Mapping[str, Sequence[CheckResult]],
    specs: dict[str, _Spec],
    carried: list[str],
) -> None:
    """`regions.drifting`: the regions that answer serve different releases, or different
    certificates. A region without a serving answer carrying the fact is left out; with fewer
    than two left, it cannot be judged, and what stood stays."""
    after = config.alerting.drift_after
    if after is None:
        return
    for what, read in (("release", _release), ("certificate", _certificate)):
        key = f"drifting/{what}"
        served = {}
        for name, results in serving.items():
            value = read([r for r in results if _serves(r)])
            if value is not None:
                served[name] = value
        if len(served) < 2:
            carried.append(key)
            continue
        if len({identity for identity, _ in served.values()}) < 2:
            continue
        shown = ", ".join(f"{name} {identity}" for name, (identity, _) in served.items())
        specs[key] = _Spec(
            EventType.REGIONS_DRIFTING,
            Severity.WARNING,
            None,
            f"regions serve different {what}s for longer than {format_duration(after)}: {shown}",
            {
                "what": what,
                "regions": {name: shown for name, (_, shown) in served.items()},
                "drift_after": format_duration(after),
            },
            lasting=after,
        )


def _serves(result: CheckResult) -> bool:
    """An answer the region serves users with: up, or only alert-level findings."""
    return result.outcome is Outcome.UP or (
        result.outcome is Outcome.DOWN and result.on_failure is OnFailure.ALERT
    )


def _release(results: Sequence[CheckResult]) -> tuple[str, str] | None:
    """The release a region serves, as (what is compared, what the evidence shows)."""
    # The origin path's first: a cached page carries the release live when it was cached.
    release = origin_release(results) or next((r.release for r in results if r.release), None)
    return (release, release) if release else None


def _certificate(results: Sequence[CheckResult]) -> tuple[str, dict[str, str]] | None:
    """The certificate a region presents: compared by its serial (else its expiry), shown
    with what people recognise it by."""
    for result in results:
        facts = result.facts
        serial, not_after = facts.get("cert_serial"), facts.get("cert_not_after")
        if serial is None and not_after is None:
            continue
        shown = {
            "serial": str(serial or ""),
            "not_after": str(not_after or ""),
            "issuer": str(facts.get("cert_issuer") or ""),
        }
        return str(serial if serial is not None else not_after), shown
    return None


def _region_evidence(region: RegionFacts) -> Evidence:
    return {
        "status": region.status.value,
        "streak": region.streak_rounds,
        "results": [
            {
                "check": r.check,
                "outcome": r.outcome.value,
                "reason": r.reason,
                "vantage": r.vantage,
                "started_at": r.started_at.isoformat(),
            }
            for r in region.results
            if r.outcome is not Outcome.UP
        ],
    }


def _days_left(result: CheckResult) -> float | None:
    value = result.facts.get("cert_days_left")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _expiring_certificate(
    config: Config, results: Iterable[CheckResult]
) -> tuple[str, float] | None:
    """The check that saw the certificate closest to expiry below its threshold, if any."""
    by_name = {r.name: r for r in config.checks.https.requests}
    default = config.checks.https.certificate.min_days_left
    worst: tuple[str, float] | None = None
    for result in results:
        days = _days_left(result)
        if days is None:
            continue
        request = by_name.get(result.check)
        wanted = default
        if request is not None and request.expect.min_cert_days is not None:
            wanted = request.expect.min_cert_days
        if days < wanted and (worst is None or days < worst[1]):
            worst = (result.check, days)
    return worst


def _dns_condition(finding: DnsFinding, specs: dict[str, _Spec]) -> None:
    answer = finding.answer
    key = f"dns/{answer.resolver}/{answer.vantage or '-'}"
    where = answer.resolver + (f" as {answer.vantage}" if answer.vantage else "")
    evidence: Evidence = {
        "resolver": answer.resolver,
        "vantage": answer.vantage,
        "status": finding.status.value,
        "addresses": list(answer.addresses),
        "region": finding.region,
        "expected_region": finding.expected_region,
        "reason": finding.reason,
    }
    status = finding.status
    if status.wrong:
        severity = Severity.CRITICAL if status is DnsStatus.NXDOMAIN else Severity.WARNING
        summary = f"DNS {status.value} for {where}: {finding.reason}"
        specs[key] = _Spec(
            EventType.DNS_MISMATCH, severity, finding.expected_region, summary, evidence
        )
    elif status is DnsStatus.FAILOVER:
        specs[key] = _Spec(
            EventType.DNS_FAILOVER,
            Severity.INFO,
            finding.expected_region,
            f"DNS failover for {where}: {finding.reason}",
            evidence,
        )
    elif status is DnsStatus.UNKNOWN and answer.vantage is not None and not answer.ecs_scope:
        specs[key] = _Spec(
            EventType.DNS_ECS_IGNORED,
            Severity.WARNING,
            None,
            f"{where}: {finding.reason}",
            evidence,
        )
    elif status is DnsStatus.ERROR:
        specs[key] = _Spec(
            EventType.MONITOR_BLIND,
            Severity.WARNING,
            None,
            f"could not ask {where}: {finding.reason}",
            evidence,
        )
