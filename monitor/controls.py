"""Operator controls that last: pins, silences and the global pause.

One shape for all three: who asked, why, since when, until when (a pause may have no end), and,
once over, when, by whom and why it ended. `Controls` is the set in force, carried by the
snapshot; the failover policy asks it whether a region is pinned or silenced, or everything
paused, at a time it is given. Pure: no I/O and no clock (docs/failover.md says every rule).

- A **pin** holds a region where it is: no automatic decision about it (never stranding users
  still overrides it). One pin per region at a time; a new one replaces the old.
- A **silence** (a maintenance window): a region neither acted on nor alerted on, and
  `/healthz` answers 200 for it. Several may overlap; each has its own id.
- The **pause** (break-glass): no write to Traffic Manager at all, never stranding users
  included. One at a time; a new one replaces the old.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.events import Event

__all__ = [
    "OPERATOR_PIN_BY",
    "Control",
    "ControlKind",
    "Controls",
    "control_id",
    "holding_while_paused",
    "mark_silenced",
]

# Who holds the pin made when a person enabled again an endpoint regionwatch had disabled.
OPERATOR_PIN_BY = "Traffic Manager (someone else)"


class ControlKind(enum.StrEnum):
    PIN = "pin"
    SILENCE = "silence"
    PAUSE = "pause"


@dataclass(frozen=True, slots=True)
class Control:
    """One pin, silence or pause, in force or over (`ended_at`). `region` is None for the
    pause; `until` None means until someone ends it (a pause, a pin held until a region
    recovers)."""

    id: str
    kind: ControlKind
    region: str | None
    reason: str
    by: str
    since: datetime
    until: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    end_reason: str | None = None

    def active(self, now: datetime) -> bool:
        """In force at `now`: not ended, and `until` not reached."""
        return self.ended_at is None and (self.until is None or now < self.until)

    def ended(self, at: datetime, *, by: str, reason: str) -> Control:
        """This control, ended at `at` by `by` for `reason`."""
        return replace(self, ended_at=at, ended_by=by, end_reason=reason)

    def describe(self) -> str:
        """In words, for a stance's reason and a refusal: `pinned by alice until 2026-11-02
        16:00:00 UTC: investigating`."""
        verb = {"pin": "pinned", "silence": "silenced", "pause": "paused"}[self.kind.value]
        if self.until is not None:
            span = f"until {self.until:%Y-%m-%d %H:%M:%S} UTC"
        elif self.kind is ControlKind.PIN:
            span = "until the region has recovered or it is unpinned"
        else:
            span = f"since {self.since:%Y-%m-%d %H:%M:%S} UTC, until resumed"
        return f"{verb} by {self.by} {span}: {self.reason}"


def control_id(kind: ControlKind, region: str | None, since: datetime, by: str, reason: str) -> str:
    """The same request at the same instant has the same id; any other, its own."""
    text = "|".join((kind.value, region or "", since.isoformat(), by, reason))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class Controls:
    """The controls in force (none ended; some may have reached `until` since they were
    applied: `expire` ends those)."""

    items: tuple[Control, ...] = ()

    def pin(self, region: str, now: datetime) -> Control | None:
        """The pin holding `region` at `now`, if any."""
        return self._first(ControlKind.PIN, region, now)

    def silence(self, region: str, now: datetime) -> Control | None:
        """The silence covering `region` at `now` that lasts longest, if any."""
        silences = [c for c in self._active(ControlKind.SILENCE, now) if c.region == region]
        return max(silences, key=_end_key, default=None)

    def pause(self, now: datetime) -> Control | None:
        """The pause in force at `now`, if any."""
        return self._first(ControlKind.PAUSE, None, now)

    def pinned(self, region: str, now: datetime) -> bool:
        return self.pin(region, now) is not None

    def silenced(self, region: str, now: datetime) -> bool:
        return self.silence(region, now) is not None

    def paused(self, now: datetime) -> bool:
        return self.pause(now) is not None

    def active(self, kind: ControlKind, now: datetime) -> list[Control]:
        """Those of `kind` in force at `now`, oldest first."""
        return self._active(kind, now)

    def find(self, id: str) -> Control | None:
        return next((c for c in self.items if c.id == id), None)

    def expire(self, now: datetime) -> tuple[Controls, tuple[Control, ...]]:
        """Those whose `until` has come by `now` taken out, and returned ended (by
        regionwatch, at `now`)."""
        over = tuple(c for c in self.items if c.until is not None and now >= c.until)
        if not over:
            return self, ()
        ended = tuple(
            c.ended(now, by="regionwatch", reason=f"expired at {c.until:%Y-%m-%d %H:%M:%S} UTC")
            for c in over
        )
        kept = tuple(c for c in self.items if c not in over)
        return Controls(kept), ended

    def changed(self, started: Iterable[Control], ended: Iterable[Control]) -> Controls:
        """`ended` taken out (by id), then `started` added."""
        gone = {c.id for c in ended}
        kept = [c for c in self.items if c.id not in gone]
        known = {c.id for c in kept}
        kept += [c for c in started if c.id not in known and c.ended_at is None]
        return Controls(tuple(kept))

    def _first(self, kind: ControlKind, region: str | None, now: datetime) -> Control | None:
        return next(
            (c for c in reversed(self._active(kind, now)) if c.region == region),
            None,
        )

    def _active(self, kind: ControlKind, now: datetime) -> list[Control]:
        return [c for c in self.items if c.kind is kind and c.active(now)]


def _end_key(control: Control) -> datetime:
    return control.until or datetime.max.replace(tzinfo=control.since.tzinfo)


def holding_while_paused(controls: Controls, out: Sequence[str], now: datetime) -> str | None:
    """A warning when everything is paused while regionwatch holds regions out of rotation by
    its own disables (`out`): nothing will put them back, not even to keep users from being
    stranded, until the pause ends. None otherwise."""
    pause = controls.pause(now)
    if pause is None or not out:
        return None
    held = ", ".join(out)
    return (
        f"failover {pause.describe()}, while regionwatch holds {held} out of rotation: nothing "
        "puts them back, not even to keep users from being stranded, until it is resumed "
        "(DELETE /api/v1/pause or regionwatch resume)"
    )


def mark_silenced(events: Sequence[Event], controls: Controls, now: datetime) -> tuple[Event, ...]:
    """Events about a silenced region, marked so (`evidence.silenced`: the silence in words,
    and its id): alerting leaves them out. The silences' own events are never marked."""
    marked = []
    for event in events:
        silence = controls.silence(event.region, now) if event.region is not None else None
        if silence is None or event.type.value.startswith("silence."):
            marked.append(event)
            continue
        evidence = {**event.evidence, "silenced": {"id": silence.id, "why": silence.describe()}}
        marked.append(replace(event, evidence=evidence))
    return tuple(marked)
