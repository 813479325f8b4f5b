"""What the doctor judges: the configuration, one read of the live Traffic Manager profile (and,
in enforce mode, the write-permission check), one answer of every cached request from every
region, and the store, read without writing it.

`gather` collects them once, concurrently; the checks are then pure functions of `Facts`. Every
failure to see something is recorded in `Facts` (an error text), never raised: a trap the
doctor could not check is itself a finding.
"""

from __future__ import annotations

import asyncio
import sqlite3
import ssl
from dataclasses import dataclass, replace
from pathlib import Path

from monitor.auditstore import marker_posted
from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.errors import StoreError
from monitor.history import open_history
from monitor.probes.https import HttpsProbe
from monitor.rounds import build_probes
from monitor.trafficmanager.azure import AzureTrafficManager
from monitor.trafficmanager.model import ProfileState
from monitor.trafficmanager.port import TrafficManager
from monitor.trafficmanager.watch import AccessCheck, check_access, read_profile

__all__ = ["CacheAnswer", "Facts", "StoreView", "gather"]


@dataclass(frozen=True, slots=True)
class CacheAnswer:
    """What one region answered one request sent as configured, without bypassing the cache:
    its `X-Cache-Status` (None: the header was absent, or nothing was answered)."""

    region: str
    request: str
    cache_status: str | None


@dataclass(frozen=True, slots=True)
class StoreView:
    """The store at `storage.path`: whether it exists, and whether a deploy marker was ever
    posted there (None when that could not be read; `error` says why)."""

    path: Path
    exists: bool
    marker_posted: bool | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the checks judge. `profile` is None without a `traffic_manager` section or
    when it could not be read (`profile_error`); `access` is set only in enforce mode."""

    config: Config
    profile: ProfileState | None = None
    profile_error: str | None = None
    access: AccessCheck | None = None
    cache: tuple[CacheAnswer, ...] = ()
    store: StoreView | None = None


async def gather(
    config: Config,
    *,
    traffic_manager: TrafficManager | None = None,
    clock: Clock | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Facts:
    """Read Traffic Manager, probe the cached requests and read the store, all at once.
    `traffic_manager` replaces the Azure client built from the configuration (closed here only
    when built here)."""
    clock = clock or SystemClock()
    async with asyncio.TaskGroup() as tasks:
        seen = tasks.create_task(_traffic_manager(config, traffic_manager, clock))
        cache = tasks.create_task(_cache_answers(config, clock, ssl_context))
        store = tasks.create_task(asyncio.to_thread(_store_view, config))
    profile, profile_error, access = seen.result()
    return Facts(
        config,
        profile=profile,
        profile_error=profile_error,
        access=access,
        cache=cache.result(),
        store=store.result(),
    )


async def _traffic_manager(
    config: Config, given: TrafficManager | None, clock: Clock
) -> tuple[ProfileState | None, str | None, AccessCheck | None]:
    if config.traffic_manager is None:
        return None, None, None
    client = given or AzureTrafficManager(config.traffic_manager)
    try:
        enforce = config.failover.mode == "enforce" and config.role == "decider"
        reading, access = await asyncio.gather(
            read_profile(client, clock), _access(client, clock) if enforce else _none()
        )
    finally:
        if given is None:
            await client.close()
    error = config.scrubbed(reading.error) if reading.error is not None else None
    if access is not None and access.error is not None:
        access = replace(access, error=config.scrubbed(access.error))
    return reading.profile, error, access


async def _access(client: TrafficManager, clock: Clock) -> AccessCheck | None:
    return await check_access(client, clock)


async def _none() -> None:
    return None


async def _cache_answers(
    config: Config, clock: Clock, context: ssl.SSLContext | None
) -> tuple[CacheAnswer, ...]:
    """One attempt of every HTTPS request that does not bypass the cache, in every region."""
    limit = asyncio.Semaphore(config.checks.https.concurrency)

    async def answer(region: str, probe: HttpsProbe) -> CacheAnswer:
        async with limit:
            result = await probe.probe()
        status = result.facts.get("cache_status")
        return CacheAnswer(region, probe.request.name, status if isinstance(status, str) else None)

    probes = [
        (region, probe)
        for region, sent in build_probes(config, clock, context).items()
        for probe, _ in sent
        if probe.request.bypass_cache == "off" and probe.request.scheme == "https"
    ]
    return tuple(await asyncio.gather(*(answer(region, probe) for region, probe in probes)))


def _store_view(config: Config) -> StoreView:
    """The store read as `regionwatch replay` reads it: read-only, without its lock, so the
    doctor can run beside the service. Blocking: run in a thread."""
    path = config.storage.path
    if not path.exists():
        return StoreView(path, exists=False)
    try:
        db = open_history(path)
    except StoreError as e:
        return StoreView(path, exists=True, error=config.scrubbed(str(e)))
    try:
        return StoreView(path, exists=True, marker_posted=marker_posted(db))
    except sqlite3.Error as e:  # a damaged table: the store cannot say, which is a finding
        return StoreView(path, exists=True, error=config.scrubbed(f"{path}: {e}"))
    finally:
        db.close()
