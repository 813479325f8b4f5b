"""The status page at `/`: every region's verdict and checks, server-rendered.

A plain page that refreshes itself; the live dashboard (server-sent events) replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from monitor.results import Outcome, RegionVerdict

__all__ = ["status_page"]

_COLOURS = {"healthy": "#1a7f37", "degraded": "#9a6700", "failing": "#cf222e", "unknown": "#6e7781"}
_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}section{border:1px solid #d0d7de;border-radius:8px;padding:1rem;margin:1rem 0}
h2{margin:0 0 .5rem;font-size:1.15rem}.status{color:#fff;border-radius:1em;padding:.1em .7em;font-size:.9rem}
table{border-collapse:collapse;width:100%}td{padding:.2rem .5rem;border-top:1px solid #eaeef2;vertical-align:top}
.down{color:#cf222e}.error{color:#6e7781}.up{color:#1a7f37}small{color:#57606a}
"""


def status_page(hostname: str, verdicts: Iterable[RegionVerdict], *, refresh: int) -> str:
    sections = "".join(_region(v) for v in verdicts)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{refresh}">'
        f"<title>regionwatch · {escape(hostname)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>regionwatch · {escape(hostname)}</h1>"
        f'<p><small>Refreshes every {refresh}s. JSON: <a href="/api/v1/regions">/api/v1/regions</a>'
        ' · API: <a href="/docs">/docs</a></small></p>'
        f"{sections}</body></html>"
    )


def _region(verdict: RegionVerdict) -> str:
    status = verdict.status.value
    rows = "".join(
        f'<tr><td>{escape(r.check)}</td><td class="{r.outcome.value}">{r.outcome.value}</td>'
        f"<td>{'' if r.latency_ms is None else f'{r.latency_ms:.0f} ms'}</td>"
        f"<td>{escape(r.reason)}"
        f"{f' <small>[{r.on_failure.value}]</small>' if r.outcome is Outcome.DOWN else ''}</td></tr>"
        for r in verdict.results
    )
    reasons = (
        "" if verdict.results else f"<p><small>{escape('; '.join(verdict.reasons))}</small></p>"
    )
    return (
        f'<section data-region="{escape(verdict.region)}" data-status="{status}">'
        f'<h2>{escape(verdict.region)} <span class=status style="background:{_COLOURS[status]}">'
        f"{status}</span></h2><small>as of {verdict.decided_at:%Y-%m-%d %H:%M:%S} UTC</small>"
        f"{reasons}<table>{rows}</table></section>"
    )
