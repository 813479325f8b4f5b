"""Whether the history store's writes are failing: since when, and the last error.

A full disk or a read-only file makes every round's write fail the same way; an operator needs
to hear it once when it starts and once when it ends, and to see it in `/readyz` and on the
status page meanwhile, not a traceback per round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from monitor.clock import Clock

__all__ = ["WriteFailure", "WriteHealth"]

log = structlog.get_logger("monitor.store")


@dataclass(frozen=True, slots=True)
class WriteFailure:
    """Writes have failed since `since` (the first failure); `error` is the latest, one line."""

    since: datetime
    error: str

    def describe(self) -> str:
        """One line for `/readyz` and the status page."""
        return f"history store failing since {self.since:%Y-%m-%dT%H:%M:%SZ}: {self.error}"


class WriteHealth:
    """Tracks the outcome of every write. Logs `store_writes_failing` (warning) on the first
    failure and `store_writes_recovered` (info) on the first success after failures; nothing
    in between. Used from the event loop only."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self._path = path
        self._clock = clock
        self._failure: WriteFailure | None = None
        self._listeners: list[Callable[[WriteFailure | None], None]] = []

    def listen(self, listener: Callable[[WriteFailure | None], None]) -> None:
        """Call `listener` with the failure when writes start failing, and with None when they
        recover (not on every write)."""
        self._listeners.append(listener)

    @property
    def failure(self) -> WriteFailure | None:
        """The current failure, or None while writes succeed."""
        return self._failure

    def failed(self, error: str) -> None:
        if self._failure is None:
            self._failure = WriteFailure(self._clock.now(), error)
            log.warning("store_writes_failing", path=str(self._path), error=error)
            self._tell(self._failure)
        else:
            self._failure = WriteFailure(self._failure.since, error)

    def succeeded(self) -> None:
        if self._failure is None:
            return
        since = self._failure.since
        self._failure = None
        log.info(
            "store_writes_recovered",
            path=str(self._path),
            failing_since=since.isoformat(),
            failed_for_s=round((self._clock.now() - since).total_seconds(), 3),
        )
        self._tell(None)

    def _tell(self, failure: WriteFailure | None) -> None:
        for listener in self._listeners:
            listener(failure)
