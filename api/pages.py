"""The dashboard at `/`: every region's verdict and checks, server-rendered.

A plain page that refreshes itself; a live version (server-sent events) will replace it at the
same address, under the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from monitor.dnsmap import DnsFinding
from monitor.events import Severity
from monitor.policy import RegionPolicy
from monitor.results import DnsStatus, Outcome, RegionVerdict
from monitor.snapshot import Snapshot
from monitor.trafficmanager.compare import EndpointView
from monitor.trafficmanager.watch import Outage
from monitor.warnings import Warning

__all__ = ["dashboard_page"]

_COLOURS = {"healthy": "#1a7f37", "degraded": "#9a6700", "failing": "#cf222e", "unknown": "#6e7781"}
_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}section{border:1px solid #d0d7de;border-radius:8px;padding:1rem;margin:1rem 0}
h2{margin:0 0 .5rem;font-size:1.15rem}.status{color:#fff;border-radius:1em;padding:.1em .7em;font-size:.9rem}
table{border-collapse:collapse;width:100%}td{padding:.2rem .5rem;border-top:1px solid #eaeef2;vertical-align:top}
.down{color:#cf222e}.error{color:#6e7781}.up{color:#1a7f37}small{color:#57606a}
"""


def dashboard_page(hostname: str, snapshot: Snapshot, *, refresh: int) -> str:
    """The whole page, from one snapshot."""
    tm = snapshot.traffic_manager
    dns = snapshot.dns.findings if snapshot.dns is not None else ()
    pause = snapshot.controls.pause(snapshot.made_at)
    sections = (
        _paused(pause.describe() if pause is not None else None)
        + _warnings(snapshot.warnings)
        + _outage(tm.outage if tm is not None else None)
        + "".join(
            _region(
                view.verdict,
                view.endpoint,
                snapshot.policy.region(name) if snapshot.policy is not None else None,
            )
            for name, view in snapshot.regions.items()
        )
        + _dns(dns)
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{refresh}">'
        f"<title>regionwatch dashboard · {escape(hostname)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>regionwatch · {escape(hostname)}</h1>"
        f'<p><small>Refreshes every {refresh}s. JSON: <a href="/api/v1/regions">/api/v1/regions</a>'
        ' · events: <a href="/api/v1/events">/api/v1/events</a>'
        ' · API: <a href="/docs">/docs</a></small></p>'
        f"{sections}</body></html>"
    )


def _warnings(warnings: Sequence[Warning]) -> str:
    """What is wrong with regionwatch itself (a failing history store, a configuration under
    which failover can never act), above the regions: one line each."""
    if not warnings:
        return ""
    lines = "".join(
        f'<p data-warning="{escape(w.code)}" class="{"error" if w.severity is Severity.INFO else "down"}">'
        f"{escape(w.message)}</p>"
        for w in warnings
    )
    return f'<section data-section="warnings"><h2>regionwatch itself</h2>{lines}</section>'


def _paused(why: str | None) -> str:
    """The pause, first: while it lasts nothing is written to Traffic Manager."""
    if why is None:
        return ""
    return (
        f'<section data-section="pause"><h2>failover paused</h2><p class="down">{escape(why)}'
        "; nothing is written to Traffic Manager until it is resumed</p></section>"
    )


def _region(verdict: RegionVerdict, view: EndpointView | None, held: RegionPolicy | None) -> str:
    status = verdict.status.value
    tm = ""
    if held is not None:
        tm += (
            f'<p data-policy="{held.stance.value}"><small>failover: <b>{held.stance.value}</b>'
            f"{f' — {escape(held.reason)}' if held.reason else ''}"
            f"{f'; next: {escape(held.next)}' if held.next else ''}</small></p>"
        )
    if view is not None and view.state is not None:
        tm = (
            f"<p><small>Traffic Manager: endpoint {escape(view.endpoint)} "
            f"{escape(view.state.endpoint_status.value)}, monitor "
            f"{escape(view.state.monitor_status.value if view.state.monitor_status else '?')}"
            "</small></p>"
        )
    if view is not None and view.findings:
        tm += "".join(f'<p class="down"><small>{escape(f)}</small></p>' for f in view.findings)
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
        f"{tm}{reasons}<table>{rows}</table></section>"
    )


def _outage(outage: Outage | None) -> str:
    if outage is None:
        return ""
    shown = (
        f"Traffic Manager's view below is the profile read at {_when(outage.profile_read_at)}."
        if outage.profile_read_at is not None
        else "No profile has been read yet."
    )
    return (
        '<section data-section="traffic-manager" data-status="unreadable"><h2>Traffic Manager'
        f' <span class=status style="background:{_COLOURS["unknown"]}">unreadable</span></h2>'
        f'<p class="down">Traffic Manager could not be read since {_when(outage.since)}: '
        f"{escape(outage.error)}</p><p><small>{shown}</small></p></section>"
    )


def _when(timestamp: float) -> str:
    return f"{datetime.fromtimestamp(timestamp, UTC):%Y-%m-%d %H:%M:%S} UTC"


def _dns(findings: Sequence[DnsFinding]) -> str:
    if not findings:
        return ""
    good = (DnsStatus.OK, DnsStatus.FAILOVER)
    rows = "".join(
        f"<tr><td>{escape(f.answer.resolver)}</td><td>{escape(f.answer.vantage or '')}</td>"
        f'<td class="{"up" if f.status in good else "down"}">{f.status.value}</td>'
        f"<td>{escape(f.region or ', '.join(f.answer.addresses) or '')}</td>"
        f"<td>{escape(f.reason)}</td></tr>"
        for f in findings
    )
    return (
        '<section data-section="dns"><h2>DNS</h2><table><tr><td><b>resolver</b></td>'
        "<td><b>vantage point</b></td><td><b>status</b></td><td><b>sent to</b></td><td></td></tr>"
        f"{rows}</table></section>"
    )
