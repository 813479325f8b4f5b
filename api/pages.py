"""The dashboard's HTML: Jinja2 templates (api/templates/, autoescaped) over `DashboardView`.

`dashboard_page` renders the whole page; `dashboard_fragment` only its live sections, the same
partials, which the page's script swaps in when a new snapshot is published. Every badge's
meaning is here, once: shown on hover (`title`) and in the page's legend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.dashboardview import UPTIME_PERIODS, DashboardView
from monitor.controls import Control

__all__ = ["STATIC_DIR", "dashboard_fragment", "dashboard_page"]

STATIC_DIR = Path(__file__).parent / "static"

STATUS_HELP = {
    "healthy": "Every check of the latest round passed",
    "degraded": "Serving, with alert-level findings (not acted on)",
    "failing": "A failover-level check failed in the latest round",
    "unknown": "No verdict: no round yet, or our side could not judge",
}
DNS_HELP = {
    "ok": "sent to the expected region",
    "failover": "sent to another region because the expected one is out of rotation: intended, watch it",
    "mismatch": "sent to another region and nothing explains it",
    "unknown": "the answer cannot be placed, or the resolver ignored the client subnet",
    "nxdomain": "the resolver says the name does not exist",
    "nodata": "the name exists with no address",
    "servfail": "the resolver failed to answer",
    "timeout": "no answer in time",
    "error": "we could not ask (our side, or a refusal)",
}
POLICY_HELP = {
    "serving": "in rotation, nothing counting against it",
    "counting": "failover-level failures counting towards a disable",
    "alert_only": "failing outside a deploy window, where nothing acts",
    "inconclusive": "the evidence cannot decide; no action",
    "withheld": "it should be out, and a guard rail refuses",
    "out": "out of rotation by regionwatch's decision",
    "recovering": "out, healthy rounds counting towards putting it back",
    "operator": "a person's decision stands",
    "pinned": "held where it is by a pin: no automatic decision",
    "silenced": "a maintenance window: neither acted on nor alerted on",
    "paused": "a decision is due and failover is paused",
}
ENDPOINT_HELP = {
    "Enabled": "in the profile's rotation",
    "Disabled": "taken out of rotation: Traffic Manager sends no one here",
}
MONITOR_HELP = {
    "Online": "Traffic Manager's own probe says it is up",
    "Degraded": "Traffic Manager's own probe says it is down",
    "CheckingEndpoint": "Traffic Manager is probing it for the first time",
    "Disabled": "not probed: the endpoint is disabled",
    "Inactive": "not probed: the profile is disabled",
    "Stopped": "not probed: the profile is stopped",
    "Unmonitored": "not probed",
}
CACHE_HELP = {
    "HIT": "Nginx answered from its cache",
    "MISS": "Nginx fetched the page from the origin",
    "BYPASS": "the cache was bypassed on purpose",
    "EXPIRED": "the cached copy was refreshed from the origin",
    "STALE": "Nginx serves a stale copy: the origin behind it is failing",
    "UPDATING": "a stale copy while Nginx refreshes it",
    "REVALIDATED": "the cached copy was confirmed by the origin",
}
OUTCOME_HELP = {
    "up": "answered as expected",
    "down": "the region answered wrongly or not at all",
    "error": "we could not judge (our network or our bug)",
}
ALERT_HELP = {
    "delivering": "its last alert went through (or none was sent yet)",
    "retrying": "attempts are failing and will be tried again",
    "failing": "alerts were given up, or keep failing: the monitor is blind in this channel",
}
PEER_HELP = {
    "fresh": "its observations arrived within two intervals: they count toward a quorum, unless "
    "it sees every region failing",
    "waiting": "not pulled yet",
    "stale": "it answers, with nothing younger than two intervals: not counted",
    "unreachable": "no usable answer within two intervals: not counted",
    "unauthenticated": "it refused our token: not counted until the token is fixed",
    "malformed": "its answer is not an observations document of that vantage point: not counted",
}
FAILURE_HELP = {
    "content": "an answer was wrong: the same from anywhere",
    "transport": "only network failures: they depend on the path from this vantage point",
}
SEVERITY_HELP = {
    "info": "for the record",
    "warning": "worth a look",
    "critical": "users are affected or about to be",
}


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _hm(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%H:%M} UTC"


def _describe(control: Control) -> str:
    return control.describe()


_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(("html",), default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(utc=_utc, hm=_hm, describe=_describe)
_env.globals.update(
    status_help=STATUS_HELP,
    dns_help=DNS_HELP,
    policy_help=POLICY_HELP,
    endpoint_help=ENDPOINT_HELP,
    monitor_help=MONITOR_HELP,
    cache_help=CACHE_HELP,
    outcome_help=OUTCOME_HELP,
    severity_help=SEVERITY_HELP,
    alert_help=ALERT_HELP,
    peer_help=PEER_HELP,
    failure_help=FAILURE_HELP,
    uptime_periods=UPTIME_PERIODS,
)


def dashboard_page(view: DashboardView) -> str:
    """The whole page: usable as it is, without JavaScript."""
    return _env.get_template("dashboard.html").render(view=view)


def dashboard_fragment(view: DashboardView) -> str:
    """The live sections alone, as the page's `#live` holds them."""
    return _env.get_template("live.html").render(view=view)
