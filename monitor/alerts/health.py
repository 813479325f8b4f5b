"""How each alert channel is doing, held in memory: what the API, the dashboard and the metrics
show, and what makes the monitor blind in a channel.

A channel is `delivering` (its last attempt went through, or none was made yet), `retrying`
(attempts are failing, not yet for long) or `failing`: an alert was given up (a dead letter),
or `BLIND_FAILURES` attempts in a row failed. It stays failing until an alert is delivered
again. Entering and leaving `failing` is told to the listener (the engine, as evidence): the
monitor cannot alert through that channel meanwhile, and says so as `monitor.blind`.

Used from the event loop only; no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["BLIND_FAILURES", "ChannelHealth", "ChannelStatus", "ChannelTrouble"]

# Failed attempts in a row before a channel is failing without a dead letter: with the default
# back-off (1 s doubling) that is about half a minute of a receiver down.
BLIND_FAILURES = 5


class ChannelHealth(enum.StrEnum):
    DELIVERING = "delivering"
    RETRYING = "retrying"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class ChannelTrouble:
    """Why a channel is failing: since when, its latest error (secret-free, as notifiers
    word it), the alerts given up and the attempts failed in a row since it started failing."""

    since: datetime
    error: str
    dead_letters: int
    failures: int

    def describe(self, channel: str) -> str:
        """One line for the `monitor.blind` event."""
        given_up = (
            f"{self.dead_letters} alert{'s' if self.dead_letters != 1 else ''} given up"
            if self.dead_letters
            else f"{self.failures} attempts failed in a row"
        )
        return f"alerts to {channel} are not delivered ({given_up}): {self.error}"


# What a listener hears: the channel and its trouble (None: it delivers again).
HealthListener = Callable[[str, "ChannelTrouble | None"], None]


class ChannelStatus:
    """One channel's delivery record since the service started (see the module)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.last_delivered_at: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.consecutive_failures = 0
        self.dead_letters = 0  # given up since the start (stored dead letters and lost ones)
        # Attempts since the start, by result: what `regionwatch_alert_deliveries_total` counts.
        self.delivered_total = 0
        self.failed_total = 0
        self.dead_total = 0
        # The outbox's rows of this channel, as last counted (the store is not read on demand).
        self.pending = 0
        self.dead_stored = 0
        self.listener: HealthListener | None = None
        self.changed: Callable[[], None] | None = None  # after every attempt's result
        self._trouble: ChannelTrouble | None = None
        self._told: bool | None = None  # what the listener last heard: failing or not

    @property
    def trouble(self) -> ChannelTrouble | None:
        return self._trouble

    @property
    def health(self) -> ChannelHealth:
        if self._trouble is not None:
            return ChannelHealth.FAILING
        if self.consecutive_failures:
            return ChannelHealth.RETRYING
        return ChannelHealth.DELIVERING

    def delivered(self, at: datetime) -> None:
        """An alert was accepted by the receiver."""
        self.delivered_total += 1
        self.last_delivered_at = at
        self.consecutive_failures = 0
        self._trouble = None
        self._tell()

    def failed(self, at: datetime, error: str) -> None:
        """An attempt failed and will be tried again."""
        self.failed_total += 1
        self._failure(at, error)
        if self._trouble is None and self.consecutive_failures >= BLIND_FAILURES:
            self._trouble = ChannelTrouble(at, error, 0, self.consecutive_failures)
        elif self._trouble is not None:
            self._trouble = ChannelTrouble(
                self._trouble.since, error, self._trouble.dead_letters, self.consecutive_failures
            )
        self._tell()

    def dead(self, at: datetime, error: str) -> None:
        """An alert was given up: a dead letter (or, held in memory, lost)."""
        self.dead_total += 1
        self.dead_letters += 1
        self._failure(at, error)
        old = self._trouble
        self._trouble = ChannelTrouble(
            old.since if old is not None else at,
            error,
            (old.dead_letters if old is not None else 0) + 1,
            self.consecutive_failures,
        )
        self._tell()

    def _failure(self, at: datetime, error: str) -> None:
        self.consecutive_failures += 1
        self.last_error = error
        self.last_error_at = at

    def _tell(self) -> None:
        """Tell the listener when the channel starts or stops failing (and its first known
        state: a condition read back after a restart closes only on a delivery)."""
        if self.changed is not None:
            self.changed()
        failing = self._trouble is not None
        if failing == self._told:
            return
        if not failing and self._told is None and self.last_delivered_at is None:
            return  # retrying, never delivered: neither known failing nor known delivering
        self._told = failing
        if self.listener is not None:
            self.listener(self.channel, self._trouble)
