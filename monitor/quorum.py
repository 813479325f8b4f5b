"""Several vantage points: what each peer last told us, whether it still counts, and who
agrees that a region is failing (pure: no I/O, no clock).

A peer's observations are *fresh* when we received them within two intervals and the peer
reports each result's own age as under two intervals; anything else (unreachable, stale,
malformed, a wrong token) makes the peer *absent*: never a vote, and reported. A vantage point
that sees every region failing within a window of rounds is *suspect*: its failures are more
likely its own network's than everyone's, so they are not counted either.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from monitor.observations import Observation, PeerDocument
from monitor.results import RegionStatus

__all__ = [
    "DECIDER_UNREACHABLE",
    "FRESH_INTERVALS",
    "SUSPECT_ROUNDS",
    "PeerProblem",
    "PeerPull",
    "PeerSight",
    "PeerState",
    "PeerView",
    "Witnesses",
    "after_pull",
    "everything_fails",
    "sights",
    "witnesses",
]

# What an observer's /healthz names as the decider when it knows no fresh decision of it.
DECIDER_UNREACHABLE = "unreachable"
# Observations older than this many intervals (received, or as reported) no longer count.
FRESH_INTERVALS = 2
# "Every region fails from one vantage point" is judged over this many rounds.
SUSPECT_ROUNDS = 3


class PeerProblem(enum.StrEnum):
    """Why a pull brought nothing usable."""

    UNREACHABLE = "unreachable"  # no answer, a timeout, a 5xx, a body too large
    UNAUTHENTICATED = "unauthenticated"  # 401/403: the token is wrong or missing
    MALFORMED = "malformed"  # an answer that is not an observations document (or not its own)


class PeerState(enum.StrEnum):
    """A peer as the dashboard and the events show it."""

    WAITING = "waiting"  # not pulled yet
    FRESH = "fresh"
    STALE = "stale"  # answering, with nothing recent enough
    UNREACHABLE = "unreachable"
    UNAUTHENTICATED = "unauthenticated"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class PeerPull:
    """One pull of a peer's observations: the document, or the problem (`detail`: one line,
    no secrets)."""

    peer: str
    at: datetime
    document: PeerDocument | None = None
    problem: PeerProblem | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PeerView:
    """What is known of one peer: the latest pull, the last document that was usable and when
    it came, and when the peer last saw each region failing (in our time: received minus the
    age it reported), for judging whether the peer itself is the problem."""

    name: str
    last: PeerPull | None = None
    good: PeerDocument | None = None
    good_at: datetime | None = None
    failed_at: Mapping[str, datetime] = field(default_factory=dict)
    first_at: datetime | None = None  # the first pull: a peer starting later is not absent yet

    def state(self, now: datetime, interval: timedelta) -> PeerState:
        last = self.last
        if last is None:
            return PeerState.WAITING
        if last.problem in (PeerProblem.UNAUTHENTICATED, PeerProblem.MALFORMED):
            return PeerState(last.problem.value)  # a wrong set-up: reported at once
        limit = FRESH_INTERVALS * interval
        if self.good_at is None and self.first_at is not None and now - self.first_at <= limit:
            return PeerState.WAITING  # instances start in any order: give it two intervals
        if self.good_at is None or now - self.good_at > limit:
            return PeerState.UNREACHABLE if last.problem is not None else PeerState.STALE
        if not self.fresh(now, interval):
            return PeerState.STALE
        return PeerState.FRESH

    def fresh(self, now: datetime, interval: timedelta) -> Mapping[str, Observation]:
        """The observations that count now: received within two intervals, each reported
        younger than two intervals. Empty when the peer is absent."""
        if self.good is None or self.good_at is None or self.last is None:
            return {}
        if self.last.problem in (PeerProblem.UNAUTHENTICATED, PeerProblem.MALFORMED):
            return {}
        limit = FRESH_INTERVALS * interval
        if now - self.good_at > limit:
            return {}
        return {
            name: o
            for name, o in self.good.observations.items()
            if timedelta(seconds=o.age) < limit
        }

    def describe(self, now: datetime, interval: timedelta) -> str:
        """Why the peer does not count (one line), or "" when it does."""
        state = self.state(now, interval)
        if state is PeerState.FRESH:
            return ""
        detail = self.last.detail if self.last is not None and self.last.detail else ""
        if state is PeerState.STALE:
            detail = f"no observation younger than {FRESH_INTERVALS} intervals"
        elif state is PeerState.UNREACHABLE and self.good_at is not None:
            detail += f"; last observations received {self.good_at:%H:%M:%S} UTC"
        elif state is PeerState.WAITING:
            detail = "not pulled yet"
        return f"{state.value}: {detail}" if detail else state.value


def after_pull(view: PeerView, pull: PeerPull) -> PeerView:
    """A peer's view after one more pull."""
    first_at = view.first_at or pull.at
    if pull.document is None:
        return replace(view, last=pull, first_at=first_at)
    failed_at = dict(view.failed_at)
    for name, o in pull.document.observations.items():
        if o.status is RegionStatus.FAILING:
            failed_at[name] = pull.at - timedelta(seconds=o.age)
    return PeerView(view.name, pull, pull.document, pull.at, MappingProxyType(failed_at), first_at)


@dataclass(frozen=True, slots=True)
class PeerSight:
    """A peer as the failover policy reads it: its fresh observations (None: absent, and why),
    and whether it sees every region failing (suspect: not counted)."""

    name: str
    observations: Mapping[str, Observation] | None
    why_absent: str = ""
    suspect: bool = False


def everything_fails(
    failed_at: Mapping[str, datetime | None],
    regions: Sequence[str],
    now: datetime,
    window: timedelta,
) -> bool:
    """Whether every region (two or more) failed at least once within `window` from one
    vantage point: more likely that vantage point's network than every region at once."""
    if len(regions) < 2:
        return False
    return all((at := failed_at.get(name)) is not None and now - at <= window for name in regions)


def sights(
    peers: Mapping[str, PeerView],
    configured: Sequence[str],
    regions: Sequence[str],
    now: datetime,
    interval: timedelta,
) -> tuple[PeerSight, ...]:
    """Every configured peer as the policy reads it (one never heard of is absent)."""
    window = SUSPECT_ROUNDS * interval
    result = []
    for name in configured:
        view = peers.get(name, PeerView(name))
        fresh = view.fresh(now, interval)
        if not fresh:
            result.append(PeerSight(name, None, view.describe(now, interval)))
            continue
        suspect = everything_fails(view.failed_at, regions, now, window)
        result.append(PeerSight(name, MappingProxyType(dict(fresh)), suspect=suspect))
    return tuple(result)


@dataclass(frozen=True, slots=True)
class Witnesses:
    """Who sees a region failing. `failing` starts with this instance's own vantage point
    (the decider counts only failures it sees itself); `total` is every configured vantage
    point, answering or not, so absence never makes a majority."""

    region: str
    failing: tuple[str, ...]
    serving: tuple[str, ...] = ()
    unsure: tuple[str, ...] = ()  # fresh, but cannot judge the region (unknown, no round)
    suspect: tuple[str, ...] = ()
    absent: tuple[tuple[str, str], ...] = ()
    total: int = 1

    @property
    def majority(self) -> bool:
        """More than half of every configured vantage point, and at least two of them."""
        return len(self.failing) >= 2 and 2 * len(self.failing) > self.total

    def words(self) -> str:
        seen = f"seen failing from {_listed(self.failing)} ({len(self.failing)} of {self.total} "
        seen += "vantage points" if self.total != 1 else "vantage point"
        parts = []
        if self.serving:
            parts.append(
                f"{_listed(self.serving)} see{'s' if len(self.serving) == 1 else ''} it serving"
            )
        if self.unsure:
            parts.append(f"{_listed(self.unsure)} cannot judge it")
        if self.suspect:
            parts.append(
                f"{_listed(self.suspect)} see{'s' if len(self.suspect) == 1 else ''} every region failing (not counted)"
            )
        parts.extend(f"{name} absent ({why})" for name, why in self.absent)
        return seen + (f"; {'; '.join(parts)})" if parts else ")")

    def evidence(self) -> dict[str, Any]:
        return {
            "failing": list(self.failing),
            "serving": list(self.serving),
            "unsure": list(self.unsure),
            "suspect": list(self.suspect),
            "absent": dict(self.absent),
            "vantage_points": self.total,
            "majority": self.majority,
        }


def witnesses(region: str, vantage: str, peers: Sequence[PeerSight]) -> Witnesses:
    """Who, besides this instance's own `vantage` (which sees `region` failing), agrees."""
    failing, serving, unsure, suspect, absent = [vantage], [], [], [], []
    for peer in peers:
        if peer.observations is None:
            absent.append((peer.name, peer.why_absent))
            continue
        seen = peer.observations.get(region)
        if peer.suspect:
            suspect.append(peer.name)
        elif seen is None or seen.status is RegionStatus.UNKNOWN:
            unsure.append(peer.name)
        elif seen.status is RegionStatus.FAILING:
            failing.append(peer.name)
        else:
            serving.append(peer.name)
    return Witnesses(
        region,
        tuple(failing),
        tuple(serving),
        tuple(unsure),
        tuple(suspect),
        tuple(absent),
        total=1 + len(peers),
    )


def _listed(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"
