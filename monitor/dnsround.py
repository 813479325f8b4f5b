"""A DNS round: every resolver, plainly and from every vantage point, all at once, judged."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import Awaitable, Callable

import httpx

from monitor.clock import Clock
from monitor.config import Config, VantagePointConfig
from monitor.dnsmap import DnsFinding, judge_answer
from monitor.probes.dns import DnsAnswer, DnsProbe
from monitor.results import DnsStatus
from monitor.trafficmanager.model import ProfileState
from monitor.trafficmanager.watch import Reading

__all__ = ["DnsRound"]


class DnsRound:
    """Owns the DNS probes and the HTTP client DNS over HTTPS shares; close() when done."""

    def __init__(
        self, config: Config, ssl_context: ssl.SSLContext, *, clock: Clock | None = None
    ) -> None:
        dns = config.checks.dns
        if dns is None:
            raise ValueError("DnsRound needs checks.dns")
        self._config = config
        timeout = dns.timeout.total_seconds()
        # trust_env=False: an HTTPS_PROXY would move the vantage point (and leave loopback).
        self._http = httpx.AsyncClient(verify=ssl_context, timeout=timeout, trust_env=False)
        self._probes: list[tuple[DnsProbe, str | None]] = []
        for resolver in dns.resolvers:
            pairs: list[tuple[VantagePointConfig | None, str | None]] = [
                (None, resolver.expect_region)
            ]
            pairs += [(v, v.expect_region) for v in dns.vantage_points]
            for vantage, expected in pairs:
                probe = DnsProbe(
                    config.site.hostname,
                    resolver,
                    vantage,
                    timeout=timeout,
                    ssl_context=ssl_context,
                    http=self._http,
                    clock=clock,
                )
                self._probes.append((probe, expected))

    async def run(
        self,
        profile: ProfileState | None,
        *,
        refresh: Callable[[], Awaitable[Reading | None]] | None = None,
    ) -> list[DnsFinding]:
        """All queries concurrently; `profile` (Traffic Manager's last view) places targets
        and explains failovers.

        `profile` was read before the answers came: an endpoint disabled in between is in the
        answers and not in `profile`. So before an answer is called a mismatch, `refresh` (when
        given) reads Traffic Manager again, and the answers called mismatch are judged against
        that newer view: one it explains is a failover, never a false alarm. When that read
        fails, a mismatch cannot be told from a failover: those answers are `unknown`, saying
        why. The round waits for its queries (each within its timeout), then for that one read
        at most (within the Traffic Manager client's deadline)."""
        answers = await asyncio.gather(*(probe.probe() for probe, _ in self._probes))
        findings = self._judged(answers, profile)
        if refresh is None or not any(f.status is DnsStatus.MISMATCH for f in findings):
            return findings
        fresh = await refresh()
        if fresh is not None and fresh.profile is None:
            return [_unjudged(f, fresh.error) if f.status == "mismatch" else f for f in findings]
        if fresh is None or fresh.profile == profile:
            return findings
        again = self._judged(answers, fresh.profile)
        return [
            new if old.status is DnsStatus.MISMATCH else old
            for old, new in zip(findings, again, strict=True)
        ]

    def _judged(self, answers: list[DnsAnswer], profile: ProfileState | None) -> list[DnsFinding]:
        return [
            judge_answer(answer, expected=expected, config=self._config, profile=profile)
            for answer, (_, expected) in zip(answers, self._probes, strict=True)
        ]

    async def close(self) -> None:
        await self._http.aclose()


def _unjudged(finding: DnsFinding, error: str | None) -> DnsFinding:
    """A mismatch Traffic Manager could not be read again to confirm: unknown, as our own
    blindness must not read as wrong routing."""
    reason = (
        f"{finding.reason}; Traffic Manager could not be read again to tell a failover from a "
        f"mismatch: {error or 'no profile'}"
    )
    return dataclasses.replace(finding, status=DnsStatus.UNKNOWN, reason=reason)
