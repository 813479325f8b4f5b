"""One round of every check, outside the scheduler: what `regionwatch check` prints."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from monitor.clock import SystemClock
from monitor.config import Config
from monitor.dnsmap import DnsFinding
from monitor.dnsround import DnsRound
from monitor.probes.https import site_ssl_context
from monitor.results import RegionVerdict
from monitor.rounds import RoundRunner, build_probes
from monitor.trafficmanager.azure import AzureTrafficManager
from monitor.trafficmanager.compare import EndpointView, endpoint_views
from monitor.trafficmanager.port import TrafficManager
from monitor.trafficmanager.watch import Reading, TrafficManagerWatch

__all__ = ["CheckOutcome", "check_once"]


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    verdicts: list[RegionVerdict]
    views: dict[str, EndpointView] = field(default_factory=dict)
    dns: list[DnsFinding] = field(default_factory=list)
    # The one Traffic Manager read (its error when it failed); None when none is configured.
    traffic_manager: Reading | None = None


async def check_once(
    config: Config, *, traffic_manager: TrafficManager | None = None
) -> CheckOutcome:
    """Every region's round, one Traffic Manager read and one DNS round, all at once; DNS
    answers are judged once Traffic Manager's view is in. `traffic_manager` is the client
    to read with when `config.traffic_manager` is set (default: the SDK's, built from it)."""
    clock = SystemClock()
    context = site_ssl_context(config)
    runner = RoundRunner(build_probes(config, clock, context), clock)
    rounds = asyncio.gather(*(runner.run(region) for region in runner.regions))
    client: TrafficManager | None = None
    if config.traffic_manager is not None:
        client = traffic_manager or AzureTrafficManager(config.traffic_manager)
    dns = DnsRound(config, context) if config.checks.dns is not None else None

    watch = TrafficManagerWatch(client, clock) if client else None

    async def read() -> Reading | None:
        return await watch.read() if watch else None

    try:
        verdicts, reading = await asyncio.gather(rounds, read())
        profile = reading.profile if reading else None
        first = reading

        async def read_again() -> Reading | None:
            # A read that failed moments ago, retries and deadline spent, is not made again:
            # check would take twice the deadline to say the same thing.
            return first if first is not None and first.profile is None else await read()

        findings = await dns.run(profile, refresh=read_again if watch else None) if dns else []
        if watch is not None:
            # A read again before judging DNS is the freshest view: the one shown.
            reading, profile = watch.latest, watch.profile
    finally:
        if client is not None:
            await client.close()
        if dns is not None:
            await dns.close()
    views = {}
    if profile is not None:
        views = endpoint_views(config, profile, {v.region: v.status for v in verdicts})
    return CheckOutcome(list(verdicts), views, findings, reading)
