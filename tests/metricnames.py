"""Series names on both sides of a query: those an exposition of `/metrics` can answer for, and
those a PromQL expression selects (for holding dashboards and alert rules to what is exported)."""

from __future__ import annotations

import re

__all__ = ["PROMETHEUS_SERIES", "family_series", "series_in", "series_names"]

_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", re.MULTILINE)
# The series each family type puts on the wire (prometheus-client's `_created` left out: no
# panel or rule should read a series start time).
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}
# Prometheus' own series for every scrape target.
PROMETHEUS_SERIES = frozenset({"up"})


def family_series(exposition: str) -> dict[str, set[str]]:
    """Each family an exposition declares (`_created` companions left out), with the series
    names its type puts on the wire: a counter's `_total`, a histogram's `_bucket`, `_sum`
    and `_count`."""
    found: dict[str, set[str]] = {}
    for family, kind in _TYPE.findall(exposition):
        if family.endswith("_created"):
            continue
        # Prometheus' text format declares a counter by its `_total` name, OpenMetrics without.
        base = family.removesuffix("_total") if kind == "counter" else family
        found[base] = {base + suffix for suffix in _SUFFIXES.get(kind, ("",))}
    return found


def series_names(exposition: str) -> set[str]:
    """Every series name an exposition can answer a query for: the samples present, and each
    declared family's (so a family without samples yet, like a gauge of open conditions while
    none is open, still counts)."""
    names = {name for name in _SAMPLE.findall(exposition) if not name.endswith("_created")}
    for series in family_series(exposition).values():
        names |= series
    return names


# PromQL words that look like names but are not series (functions are followed by `(`).
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
     "unless", "offset", "inf", "nan"}
)  # fmt: skip
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# Grafana's `label_values(SELECTOR, LABEL)` variable query: only SELECTOR is PromQL.
_LABEL_VALUES = re.compile(r"^label_values\((.*),\s*[a-zA-Z_]\w*\s*\)$")
_NAME = re.compile(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")


def series_in(expr: str) -> set[str]:
    """The series names a PromQL expression (or a Grafana `label_values` query) selects: what
    is left once strings, label matchers, ranges, grouping labels, functions and keywords are
    taken out."""
    text = _LABEL_VALUES.sub(r"\1", expr.strip())
    text = _STRINGS.sub('""', text)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    return {name for name in _NAME.findall(text) if name.lower() not in _KEYWORDS}
