"""What one instance tells its peers: its latest verdict of every region from where it stands,
each with its age, and (on the decider) what it decided for each region's `/healthz`.

`observations` builds the document `GET /api/v1/observations` serves from a snapshot; `parse`
reads a peer's document back, refusing anything malformed. Ages, never timestamps: clocks on
two hosts disagree, while "this result is 3.2 s old" means the same on both (DESIGN: the
decider judges freshness by when it received a document and the ages it reports).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.results import FailureClass, OnFailure, Outcome, RegionStatus, RegionVerdict

if TYPE_CHECKING:
    from monitor.snapshot import Snapshot

__all__ = [
    "DOCUMENT_VERSION",
    "MAX_DOCUMENT_BYTES",
    "MalformedDocument",
    "Observation",
    "PeerDocument",
    "failure_of",
    "observations",
    "parse",
]

DOCUMENT_VERSION = 1
# A document is a few hundred bytes per region; anything near this is not one of ours.
MAX_DOCUMENT_BYTES = 1 << 20
_MAX_REGIONS = 500
_MAX_TEXT = 300


@dataclass(frozen=True, slots=True)
class Observation:
    """One region as a vantage point last saw it: its verdict, how old that verdict was when
    the document was served, and the kind of failure (`transport`: only network failures,
    which depend on the path; `content`: at least one answer was wrong, which looks the same
    from anywhere; None when not failing)."""

    region: str
    status: RegionStatus
    age: float  # seconds, as the peer reported it
    failure: FailureClass | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PeerDocument:
    """A peer's document, as parsed: who it is, what it sees, and, from a decider, whether each
    region should serve (its `/healthz` answers)."""

    instance: str
    vantage: str
    role: str  # decider | observer
    observations: Mapping[str, Observation]
    serve: Mapping[str, bool]  # the decider's /healthz answers; empty from an observer


def failure_of(verdict: RegionVerdict) -> FailureClass | None:
    """Whether a failing verdict has a content failure among its failover-level results (one
    is enough), or only transport ones; None when the verdict is not failing."""
    if verdict.status is not RegionStatus.FAILING:
        return None
    counted = [
        r
        for r in verdict.results
        if r.outcome is Outcome.DOWN and r.on_failure is OnFailure.FAILOVER
    ]
    if any(r.failure_class is not FailureClass.TRANSPORT for r in counted):
        return FailureClass.CONTENT
    return FailureClass.TRANSPORT


def observations(snapshot: Snapshot, *, vantage: str, role: str, now: datetime) -> dict[str, Any]:
    """The document `GET /api/v1/observations` serves: every region with a round done, and
    on a decider its `/healthz` answer for each region."""
    regions = []
    for view in snapshot.regions.values():
        if not view.rounds_done:
            continue  # restored from the store, not seen by this process: not an observation
        verdict = view.verdict
        failure = failure_of(verdict)
        regions.append(
            {
                "region": view.name,
                "status": verdict.status.value,
                "age_s": round(max(0.0, (now - verdict.decided_at).total_seconds()), 3),
                "failure": failure.value if failure is not None else None,
                "reason": "; ".join(verdict.reasons)[:_MAX_TEXT],
            }
        )
    document: dict[str, Any] = {
        "version": DOCUMENT_VERSION,
        "instance": snapshot.instance,
        "vantage": vantage,
        "role": role,
        "observations": regions,
    }
    if role == "decider":
        document["decisions"] = {
            name: {"serve": snapshot.health_for(name).status_code == 200}
            for name in snapshot.regions
        }
    return document


class MalformedDocument(ValueError):
    """A peer's answer that is not an observations document."""


def parse(document: object) -> PeerDocument:
    """A peer's document, or `MalformedDocument` saying what is wrong with it (one line)."""
    if not isinstance(document, dict):
        raise MalformedDocument("expected a JSON object")
    if document.get("version") != DOCUMENT_VERSION:
        raise MalformedDocument(
            f"expected document version {DOCUMENT_VERSION}, got {_short(document.get('version'))}"
        )
    instance = _text(document, "instance")
    vantage = _text(document, "vantage")
    role = document.get("role")
    if role not in ("decider", "observer"):
        raise MalformedDocument(f"role: expected decider or observer, got {_short(role)}")
    items = document.get("observations")
    if not isinstance(items, list) or len(items) > _MAX_REGIONS:
        raise MalformedDocument(f"observations: expected a list of at most {_MAX_REGIONS}")
    seen: dict[str, Observation] = {}
    for i, item in enumerate(items):
        observation = _observation(item, f"observations[{i}]")
        seen[observation.region] = observation
    serve: dict[str, bool] = {}
    decisions = document.get("decisions")
    if decisions is None:
        decisions = {}  # an observer's: it decides nothing
    if not isinstance(decisions, dict) or len(decisions) > _MAX_REGIONS:
        raise MalformedDocument("decisions: expected an object")
    for region, decision in decisions.items():
        if not isinstance(decision, dict) or not isinstance(decision.get("serve"), bool):
            raise MalformedDocument(f"decisions.{_short(region)}: expected {{serve: true|false}}")
        serve[region] = decision["serve"]
    return PeerDocument(instance, vantage, role, seen, serve)


def _observation(item: object, where: str) -> Observation:
    if not isinstance(item, dict):
        raise MalformedDocument(f"{where}: expected an object")
    region = _text(item, "region", where)
    try:
        status = RegionStatus(str(item.get("status")))
    except ValueError:
        raise MalformedDocument(
            f"{where}.status: expected one of {', '.join(s.value for s in RegionStatus)}"
        ) from None
    age = item.get("age_s")
    if (
        isinstance(age, bool)
        or not isinstance(age, int | float)
        or not math.isfinite(age)
        or age < 0
    ):
        raise MalformedDocument(f"{where}.age_s: expected a number of seconds ≥ 0")
    failure_value = item.get("failure")
    try:
        failure = FailureClass(failure_value) if failure_value is not None else None
    except ValueError:
        raise MalformedDocument(f"{where}.failure: expected content, transport or null") from None
    if (failure is None) != (status is not RegionStatus.FAILING):
        raise MalformedDocument(f"{where}.failure: expected one exactly when failing")
    reason = item.get("reason", "")
    if not isinstance(reason, str):
        raise MalformedDocument(f"{where}.reason: expected a string")
    return Observation(region, status, float(age), failure, reason[:_MAX_TEXT])


def _text(item: Mapping[str, object], key: str, where: str = "") -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value or len(value) > 100:
        prefix = f"{where}." if where else ""
        raise MalformedDocument(f"{prefix}{key}: expected a name")
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
