"""A round: every HTTPS request of one region, all at once, samples folded, then one verdict."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import replace

from monitor.clock import Clock
from monitor.config import Config
from monitor.evaluate import fold_samples, verdict
from monitor.probes.https import HttpsProbe, HttpsTarget, site_ssl_context
from monitor.results import LOCAL_VANTAGE, CheckResult, RegionVerdict

__all__ = ["RoundRunner", "build_probes"]


def build_probes(
    config: Config, clock: Clock, ssl_context: ssl.SSLContext | None = None
) -> dict[str, list[tuple[HttpsProbe, int]]]:
    """For every region, its probes and how many samples each sends per round."""
    https = config.checks.https
    context = ssl_context or site_ssl_context(config)
    probes: dict[str, list[tuple[HttpsProbe, int]]] = {}
    for name, region in config.regions.items():
        target = HttpsTarget(
            name, config.site.hostname, region.address, region.port, region.http_port
        )
        probes[name] = [
            (
                HttpsProbe(
                    target,
                    request,
                    ssl_context=context,
                    timeout=https.timeout.total_seconds(),
                    clock=clock,
                    max_body=https.max_body,
                    min_cert_days=https.certificate.min_days_left,
                    release_header=config.deploys.version_header,
                    source_address=https.source_address,
                ),
                request.samples or https.samples,
            )
            for request in config.requests_for(name)
        ]
    return probes


class RoundRunner:
    """Runs rounds; knows nothing of schedules, storage or policy."""

    def __init__(
        self,
        probes: Mapping[str, Sequence[tuple[HttpsProbe, int]]],
        clock: Clock,
        *,
        vantage: str = LOCAL_VANTAGE,
        concurrency: int = 64,
    ) -> None:
        self._probes = probes
        self._clock = clock
        self._vantage = vantage
        # Probes in flight at once, across every region: each TLS connection holds buffers
        # (asyncio's SSL layer reads into 256 KiB), so with hundreds of regions the memory
        # follows this bound, not the number of targets (docs/benchmarks.md, "Memory").
        self._slots = asyncio.Semaphore(concurrency)
        self.in_flight = 0  # probes holding a slot now
        self.waiting = 0  # probes waiting for one

    @property
    def regions(self) -> list[str]:
        return list(self._probes)

    async def run(self, region: str) -> RegionVerdict:
        """One round of `region`: all requests and samples concurrently, then the verdict.
        Every result carries this instance's vantage point and when the round ended."""
        probes = self._probes[region]
        attempts = [self._probe(probe) for probe, samples in probes for _ in range(samples)]
        outcomes = await asyncio.gather(*attempts)
        now = self._clock.now()
        results = []
        index = 0
        for _, samples in probes:
            folded = fold_samples(outcomes[index : index + samples])
            results.append(replace(folded, vantage=self._vantage, received_at=now))
            index += samples
        return verdict(region, results, now)

    async def _probe(self, probe: HttpsProbe) -> CheckResult:
        # The probe's own timeout starts once it has a slot: waiting is not the target's fault.
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.in_flight += 1
        try:
            return await probe.probe()
        finally:
            self.in_flight -= 1
            self._slots.release()
