"""The traps in the requests: a probe that Nginx answers from its cache judges the cache, not
the origin behind it (docs/nginx.md), so a dead origin can hide behind it for days."""

from __future__ import annotations

from collections.abc import Iterator

from monitor.config import Config, HttpsRequest
from monitor.doctor.facts import Facts
from monitor.doctor.findings import Finding
from monitor.events import Severity

__all__ = ["cached_probe_path", "policy_never_bypasses_cache", "policy_requests"]


def policy_requests(config: Config) -> list[HttpsRequest]:
    """The HTTPS requests whose failures can count toward taking a region out: every one not
    marked `on_failure: alert` (plain-HTTP requests see only Nginx's redirect)."""
    return [
        r for r in config.checks.https.requests if r.scheme == "https" and r.on_failure != "alert"
    ]


def _bypassing(config: Config) -> list[str]:
    return [r.name for r in policy_requests(config) if r.bypass_cache != "off"]


def policy_never_bypasses_cache(facts: Facts) -> Iterator[Finding]:
    """None of the requests that count toward failover bypasses the cache: the policy judges
    what Nginx serves, and a cached page stays 200 for as long as it is valid."""
    config = facts.config
    if not policy_requests(config) or _bypassing(config):
        return
    yield Finding(
        "policy_never_bypasses_cache",
        Severity.WARNING,
        "checks.https.requests",
        "none of the requests that count toward failover bypasses the cache: with the origin "
        "down, Nginx keeps answering cached pages 200 (HIT, then STALE) and the region is "
        "judged healthy until they expire",
        "add a request with bypass_cache: header (and Nginx's proxy_cache_bypass, "
        "docs/nginx.md) or bypass_cache: query, such as {name: home, path: /, bypass_cache: "
        "header}",
    )


def cached_probe_path(facts: Facts) -> Iterator[Finding]:
    """A request sent without bypassing the cache was answered from it (`X-Cache-Status: HIT`):
    what readers get, which is fine beside a request that bypasses it, and a trap alone."""
    config = facts.config
    hits: dict[str, list[str]] = {}
    for answer in facts.cache:
        if (answer.cache_status or "").upper() == "HIT":
            hits.setdefault(answer.request, []).append(answer.region)
    origin = _bypassing(config)
    for request, regions in hits.items():
        where = ", ".join(regions)
        message = (
            f"request {request} is answered from Nginx's cache (X-Cache-Status: HIT in {where}): "
            "it shows what readers get, not whether the origin serves"
        )
        if origin:
            yield Finding(
                "cached_probe_path",
                Severity.INFO,
                request,
                f"{message}; the origin is judged by {', '.join(origin)}",
                "nothing to change if that is its purpose (only STALE there tells a failing "
                "origin); to judge the origin with it, set bypass_cache: header or query",
            )
        else:
            yield Finding(
                "cached_probe_path",
                Severity.WARNING,
                request,
                f"{message}, and no request that counts toward failover bypasses the cache",
                f"set bypass_cache: header (with Nginx's proxy_cache_bypass) or query on "
                f"{request}, or add a request that does",
            )
