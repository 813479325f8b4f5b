"""A DNS round: every resolver, plainly and from every vantage point, all at once, judged."""

from __future__ import annotations

import asyncio
import ssl

import httpx

from monitor.config import Config, VantagePointConfig
from monitor.dnsmap import DnsFinding, judge_answer
from monitor.probes.dns import DnsProbe
from monitor.trafficmanager.model import ProfileState

__all__ = ["DnsRound"]


class DnsRound:
    """Owns the DNS probes and the HTTP client DNS over HTTPS shares; close() when done."""

    def __init__(self, config: Config, ssl_context: ssl.SSLContext) -> None:
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
                )
                self._probes.append((probe, expected))

    async def run(self, profile: ProfileState | None) -> list[DnsFinding]:
        """All queries concurrently; `profile` (Traffic Manager's last view) places targets
        and explains failovers."""
        answers = await asyncio.gather(*(probe.probe() for probe, _ in self._probes))
        return [
            judge_answer(answer, expected=expected, config=self._config, profile=profile)
            for answer, (_, expected) in zip(answers, self._probes, strict=True)
        ]

    async def close(self) -> None:
        await self._http.aclose()
