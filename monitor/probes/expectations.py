"""What a regional HTTP response must look like: an observed response in, findings out.

Pure functions, so every rule can be tested without a socket. Each finding carries its own
default meaning (failover or alert) and where the failure happened (content or transport);
a request's `on_failure` overrides the meaning of all of its findings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.config import HttpsRequest
from monitor.results import FailureClass, OnFailure

__all__ = ["Finding", "Observation", "judge"]


@dataclass(frozen=True, slots=True)
class Observation:
    """What came back on the wire for one request."""

    status: int
    headers: Mapping[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes
    latency_s: float
    cert_days_left: float | None = None  # None for plain HTTP


@dataclass(frozen=True, slots=True)
class Finding:
    message: str
    on_failure: OnFailure
    failure_class: FailureClass


def judge(
    request: HttpsRequest, seen: Observation, *, hostname: str, min_cert_days: int
) -> list[Finding]:
    """Every expectation of `request` that `seen` does not meet."""
    expect = request.expect
    findings: list[Finding] = []

    def add(message: str, default: OnFailure, where: FailureClass = FailureClass.CONTENT) -> None:
        findings.append(Finding(message, request.on_failure or default, where))

    if seen.status not in expect.status:
        wanted = ", ".join(str(s) for s in expect.status)
        # A path that must stay blocked (all expected statuses 4xx, like /ghost → 404) being
        # exposed is an alert, not a failover: the LoadBalancer IP stays reachable whatever DNS says.
        blocked = all(400 <= s < 500 for s in expect.status)
        add(
            f"status {seen.status}, expected {wanted}",
            OnFailure.ALERT if blocked else OnFailure.FAILOVER,
        )

    cache = seen.headers.get("x-cache-status")
    if cache is not None and cache.upper() in expect.fresh_cache:
        add(
            f"X-Cache-Status {cache}: Nginx is serving a stale copy, the origin behind it is failing",
            OnFailure.FAILOVER,
        )

    if expect.body_contains is not None or expect.body_regex is not None:
        text = seen.body.decode("utf-8", errors="replace")
        if expect.body_contains is not None and expect.body_contains not in text:
            add(f"body does not contain {expect.body_contains!r}", OnFailure.FAILOVER)
        if expect.body_regex is not None and not expect.body_regex.search(text):
            add(f"body does not match /{expect.body_regex.pattern}/", OnFailure.FAILOVER)

    if expect.redirect_to_https:
        location = seen.headers.get("location", "")
        if not location.lower().startswith(f"https://{hostname}"):
            shown = repr(location) if location else "no Location header"
            add(f"redirect goes to {shown}, expected https://{hostname}/…", OnFailure.FAILOVER)

    if expect.max_latency is not None:
        limit = expect.max_latency.total_seconds()
        if seen.latency_s > limit:
            add(
                f"latency {seen.latency_s * 1000:.0f} ms, expected at most {limit * 1000:.0f} ms",
                OnFailure.FAILOVER,
                FailureClass.TRANSPORT,
            )

    for name in expect.headers_present:
        if name.lower() not in seen.headers:
            add(f"header {name} is missing", OnFailure.ALERT)
    for name in expect.headers_absent:
        if name.lower() in seen.headers:
            add(f"header {name} is present", OnFailure.ALERT)

    days_wanted = expect.min_cert_days if expect.min_cert_days is not None else min_cert_days
    if seen.cert_days_left is not None and seen.cert_days_left < days_wanted:
        add(
            f"certificate expires in {seen.cert_days_left:.1f} days, expected at least {days_wanted}",
            OnFailure.ALERT,
        )
    return findings
