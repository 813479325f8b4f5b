"""Logging a burst of like events once: the first when it happens, the count when it ends.

An attack or an exhausted resource repeats the same event thousands of times a second; one
line each would fill the disk and hide everything else (asyncio alone logged a failed
`accept()` with its traceback 353,438 times in 30 s).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

__all__ = ["BurstLog"]

log = structlog.get_logger("api.server")

# A burst ends after this long without another event of its kind.
QUIET = 5.0


class BurstLog:
    """`note()` logs `event` at warning for the first event of a burst and only counts the
    rest; once `quiet` seconds pass without one, `<ended>` is logged at info with the count.
    Call from the event loop; `flush()` logs a burst still open (at shutdown)."""

    def __init__(self, event: str, ended: str, *, quiet: float = QUIET) -> None:
        self.event = event
        self.ended = ended
        self.quiet = quiet
        self.count = 0  # events in the current burst
        self.bursts = 0  # bursts started, for tests and metrics
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def note(self, **fields: Any) -> None:
        loop = asyncio.get_running_loop()
        self._last = loop.time()
        self.count += 1
        if self.count == 1:
            self.bursts += 1
            log.warning(self.event, **fields)
            self._timer = loop.call_at(self._last + self.quiet, self._check)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.count:
            log.info(self.ended, events=self.count)
            self.count = 0

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        due = self._last + self.quiet
        if loop.time() >= due:
            self._timer = None
            self.flush()
        else:
            self._timer = loop.call_at(due, self._check)
