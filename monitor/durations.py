"""Durations as people write them in YAML: `500ms`, `10s`, `5m`, `1h30m`, `30d`."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from monitor.quoting import quoted

__all__ = ["MAX_DURATION", "format_duration", "parse_duration"]

# Far beyond any interval, timeout or retention that makes sense, and far enough below
# timedelta's own limit that adding it to today's date (a schedule, a retention cut-off)
# cannot overflow.
MAX_DURATION = timedelta(days=3650)

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


def parse_duration(value: object) -> timedelta:
    """Parse a duration; bare numbers are seconds. Raises ValueError with the accepted forms.

    Every duration is between 0 and MAX_DURATION: negative, infinite, NaN and larger values
    are refused with a ValueError, never an OverflowError. Each unit may be given once:
    `10s10s` is more likely a slip than 20 seconds.
    """
    if isinstance(value, bool) or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"expected a duration such as 10s, 5m or 1h, got {quoted(value)}")
    if isinstance(value, timedelta | int | float):
        seconds = value.total_seconds() if isinstance(value, timedelta) else value
        if seconds < 0:
            raise ValueError(f"expected a duration that is not negative, got {quoted(value)}")
    elif isinstance(value, str) and _WHOLE.fullmatch(text := value.strip().replace(" ", "")):
        parts = _PART.findall(text)
        units = [unit for _, unit in parts]
        if len(set(units)) < len(units):
            raise ValueError(
                f"expected each unit (ms, s, m, h, d) at most once, such as 1h30m, "
                f"got {quoted(value)}"
            )
        # float() of a long run of digits is inf, never an error: the bound below catches it.
        seconds = sum(float(n) * _UNITS[unit] for n, unit in parts)
    else:
        raise ValueError(f"expected a duration such as 10s, 5m or 1h, got {quoted(value)}")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(
            f"expected a duration of at most {format_duration(MAX_DURATION)}, got {quoted(value)}"
        )
    return value if isinstance(value, timedelta) else timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling parse_duration reads back (`90s` → `1m30s`)."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return "".join(parts)
