"""The emulator's wall clock: real time plus an offset that tests can move forward."""

from __future__ import annotations

import time

__all__ = ["Clock"]


class Clock:
    """Seconds since the epoch, as the emulated Entra ID and ARM see them.

    Only the emulator reads this clock: `advance()` makes every token it issued older without
    touching the clients' clocks, the way a token expires on the server while a client still
    holds it.
    """

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"the clock only moves forward, got {seconds}")
        self._offset += seconds
