"""State changes as records: conditions that open and close, and the events that say so.

A *condition* is something true about the watched site or the monitor right now ("westeurope
is failing", "Traffic Manager says Online while we say failing"), with the time it began. The
engine keeps the open conditions in its snapshot; `derive` compares two snapshots' conditions
and returns one event per change: a condition opened, changed its kind, or closed. An event's
id is a hash of what it is about and when that began, so deriving the same change twice (after
a restart, say) yields the same id, and storing it twice stores it once.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["FACTS", "Condition", "Event", "EventType", "Severity", "derive", "fact"]


class EventType(enum.StrEnum):
    """Dotted nouns with a verb (docs/events.md has each with an example)."""

    REGION_FAILING = "region.failing"
    REGION_DEGRADED = "region.degraded"
    REGION_RECOVERED = "region.recovered"
    TRAFFIC_MANAGER_DISAGREES = "traffic_manager.disagrees"
    DNS_MISMATCH = "dns.mismatch"
    DNS_FAILOVER = "dns.failover"
    DNS_ECS_IGNORED = "dns.ecs_ignored"
    CERTIFICATE_EXPIRING = "certificate.expiring"
    MONITOR_BLIND = "monitor.blind"
    CONFIG_DRIFT = "config.drift"
    REGION_INCONCLUSIVE = "region.inconclusive"
    ENDPOINT_DISABLED = "endpoint.disabled"
    ENDPOINT_ENABLED = "endpoint.enabled"
    ENDPOINT_WOULD_DISABLE = "endpoint.would_disable"
    ENDPOINT_WOULD_ENABLE = "endpoint.would_enable"
    ACTION_REFUSED = "action.refused"
    ACTION_FAILED = "action.failed"
    DEPLOY_RECORDED = "deploy.recorded"
    PIN_STARTED = "pin.started"
    PIN_ENDED = "pin.ended"
    SILENCE_STARTED = "silence.started"
    SILENCE_ENDED = "silence.ended"
    PAUSE_STARTED = "pause.started"
    PAUSE_ENDED = "pause.ended"
    ENDPOINT_FLAPPING = "endpoint.flapping"
    ENDPOINT_ADOPTED = "endpoint.adopted"
    REGIONS_DRIFTING = "regions.drifting"
    ENDPOINT_DISABLED_TOO_LONG = "endpoint.disabled_too_long"
    MONITOR_STARTED = "monitor.started"
    MONITOR_STOPPING = "monitor.stopping"
    PEER_ABSENT = "peer.absent"


# Events that record a fact (an endpoint disabled, a deploy recorded) rather than open or close
# a condition: nothing ever resolves them (monitor/facts.py makes them).
FACTS = frozenset(
    {
        EventType.ENDPOINT_DISABLED,
        EventType.ENDPOINT_ENABLED,
        EventType.ENDPOINT_WOULD_DISABLE,
        EventType.ENDPOINT_WOULD_ENABLE,
        EventType.ENDPOINT_ADOPTED,
        EventType.ACTION_REFUSED,
        EventType.ACTION_FAILED,
        EventType.DEPLOY_RECORDED,
        EventType.PIN_STARTED,
        EventType.PIN_ENDED,
        EventType.SILENCE_STARTED,
        EventType.SILENCE_ENDED,
        EventType.PAUSE_STARTED,
        EventType.PAUSE_ENDED,
        EventType.MONITOR_STARTED,
        EventType.MONITOR_STOPPING,
    }
)


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
Evidence = Mapping[str, Any]  # JSON-ready: what caused it, in short


@dataclass(frozen=True, slots=True)
class Condition:
    """Something true now. `key` names what it is about (`region/westeurope`,
    `dns/eu/europe`): one condition per key at a time, whose `type` may change (failing →
    degraded) while the key stays open."""

    key: str
    type: EventType
    severity: Severity
    region: str | None
    since: datetime
    summary: str
    evidence: Evidence = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """A stored record of a change. `problem` is the key of the condition it opens or closes;
    `resolved` is true when it closes it; `since` is when that condition began."""

    id: str
    type: EventType
    severity: Severity
    region: str | None
    at: datetime
    since: datetime
    summary: str
    evidence: Evidence
    instance: str
    problem: str
    resolved: bool = False


def derive(
    before: Mapping[str, Condition],
    after: Mapping[str, Condition],
    *,
    at: datetime,
    instance: str,
) -> list[Event]:
    """One event per change between two sets of open conditions, in a stable order: opened
    (or changed kind) first, in `after`'s order, then closed, in `before`'s order. A condition
    whose kind and start are unchanged yields nothing, whatever its summary says now."""
    events = []
    for key, condition in after.items():
        old = before.get(key)
        if old is None or old.type is not condition.type or old.since != condition.since:
            events.append(_opened(condition, at, instance))
    for key, old in before.items():
        if key not in after:
            events.append(_closed(old, at, instance))
    return events


def _opened(condition: Condition, at: datetime, instance: str) -> Event:
    return Event(
        id=_id(condition.key, condition.type, condition.since, resolved=False),
        type=condition.type,
        severity=condition.severity,
        region=condition.region,
        at=at,
        since=condition.since,
        summary=condition.summary,
        evidence=condition.evidence,
        instance=instance,
        problem=condition.key,
    )


def _closed(condition: Condition, at: datetime, instance: str) -> Event:
    # A region's recovery has a name of its own; every other condition closes under its type.
    kind = condition.type
    summary = f"over: {condition.summary}"
    if kind in (EventType.REGION_FAILING, EventType.REGION_DEGRADED):
        kind = EventType.REGION_RECOVERED
        was = "failing" if condition.type is EventType.REGION_FAILING else "degraded"
        summary = f"{condition.region} recovered (it was {was} since {condition.since:%Y-%m-%d %H:%M:%S} UTC)"
    return Event(
        id=_id(condition.key, condition.type, condition.since, resolved=True),
        type=kind,
        severity=Severity.INFO,
        region=condition.region,
        at=at,
        since=condition.since,
        summary=summary,
        evidence={"was": dict(condition.evidence)},  # what was wrong, now over
        instance=instance,
        problem=condition.key,
        resolved=True,
    )


def _id(key: str, kind: EventType, since: datetime, *, resolved: bool) -> str:
    text = f"{key}|{kind.value}|{since.isoformat()}|{'resolved' if resolved else 'open'}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def fact(
    kind: EventType,
    *,
    key: str,
    severity: Severity,
    region: str | None,
    at: datetime,
    summary: str,
    evidence: Evidence,
    instance: str,
) -> Event:
    """An event that is a fact in itself (an endpoint disabled, a deploy recorded), not the
    opening or closing of a condition. `key` names what it records (`action/<id>`): the same
    fact always has the same id."""
    return Event(
        id=_id(key, kind, at, resolved=False),
        type=kind,
        severity=severity,
        region=region,
        at=at,
        since=at,
        summary=summary,
        evidence=evidence,
        instance=instance,
        problem=key,
    )
