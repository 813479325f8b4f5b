"""A latency sparkline as the points of an inline SVG polyline."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["sparkline_points"]


def sparkline_points(values: Sequence[float], *, width: int = 120, height: int = 24) -> str:
    """`x,y` pairs, oldest on the left, the highest value at the top (a 1-unit margin keeps the
    stroke inside); empty for fewer than two values, which draw no line."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{1 + (height - 2) * (1 - (v - low) / span):.1f}"
        for i, v in enumerate(values)
    )
