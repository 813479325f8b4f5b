"""How long `Store.open()` takes on a store of realistic size, most of it `PRAGMA quick_check`.

`.venv/bin/python bench/store_check.py` (not part of `make bench`: building the store takes
minutes). The store holds 30 days of the model configuration (two regions, the four model
requests, HTTPS every 10 s; DNS with 2 resolvers × (plain + 2 vantage points) and Traffic
Manager every 30 s), written through the Store's own insert path, one transaction per round as
the service writes them. The rows are copies of one real round per region against the lab's
origins on loopback, with their times moved.

Measured: `Store.open()` (settings, quick_check, the write check, loading the latest verdicts),
and `PRAGMA quick_check(1)` alone on a second connection; each with the file in the page
cache (warm, the usual restart) and out of it (cold: the kernel is told to drop the file's
pages with posix_fadvise, as after a reboot). Prints a Markdown section and writes it into
docs/benchmarks.md between this script's markers.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.certs import LabCA  # noqa: E402
from lab.origin import RegionalOrigin  # noqa: E402
from lab.sandbox import MODEL_REQUESTS  # noqa: E402
from monitor.clock import ManualClock  # noqa: E402
from monitor.config import parse_config  # noqa: E402
from monitor.dnsmap import DnsFinding  # noqa: E402
from monitor.probes.dns import DnsAnswer, Hop  # noqa: E402
from monitor.results import DnsStatus, RegionVerdict  # noqa: E402
from monitor.service import build_service  # noqa: E402
from monitor.store import Store  # noqa: E402
from monitor.trafficmanager.model import (  # noqa: E402
    EndpointState,
    EndpointStatus,
    MonitorConfig,
    MonitorStatus,
    ProfileState,
)
from monitor.trafficmanager.watch import Reading  # noqa: E402

BEGIN = "<!-- bench/store_check.py: begin (generated, do not edit by hand) -->"
END = "<!-- bench/store_check.py: end -->"
HOSTNAME = "blog.example.com"
REGIONS = ("westeurope", "centralus")
START = datetime(2026, 10, 1, tzinfo=UTC)


async def real_rounds(workdir: Path) -> dict[str, RegionVerdict]:
    """One real round of each region against the lab's origins: the template rows."""
    ca = LabCA()
    ca_file = ca.write_ca_pem(workdir / "ca.pem")
    async with (
        RegionalOrigin(region=REGIONS[0], hostname=HOSTNAME, ca=ca) as west,
        RegionalOrigin(region=REGIONS[1], hostname=HOSTNAME, ca=ca) as central,
    ):
        origins = {REGIONS[0]: west, REGIONS[1]: central}
        config = parse_config(
            {
                "site": {"hostname": HOSTNAME},
                "regions": {
                    name: {"address": o.address, "port": o.https_port, "http_port": o.http_port}
                    for name, o in origins.items()
                },
                "tls": {"ca_file": str(ca_file)},
                "checks": {"https": {"interval": "10s", "requests": MODEL_REQUESTS}},
                "storage": {"path": str(workdir / "unused.db")},
            }
        )
        async with build_service(config, once=True) as service:
            return {region: await service.rounds.run(region) for region in REGIONS}


def dns_findings() -> list[DnsFinding]:
    findings = []
    for resolver, region in (("eu", "westeurope"), ("us", "centralus")):
        for vantage in (None, "europe", "america"):
            answer = DnsAnswer(
                resolver=resolver,
                vantage=vantage,
                rcode="NOERROR",
                addresses=("127.0.0.11",),
                address_ttl=60,
                hops=(
                    Hop(HOSTNAME, "blog.trafficmanager.net", 300),
                    Hop("blog.trafficmanager.net", f"blog-{region}.cloudapp.azure.com", 60),
                ),
            )
            findings.append(DnsFinding(answer, DnsStatus.OK, region, region, ""))
    return findings


def tm_profile() -> ProfileState:
    return ProfileState(
        name="blog",
        routing_method="Geographic",
        profile_status="Enabled",
        fqdn="blog.trafficmanager.net",
        ttl=60,
        monitor=MonitorConfig("HTTPS", 443, "/healthz", 30, 10, 3),
        endpoints=tuple(
            EndpointState(
                region,
                "ExternalEndpoints",
                "127.0.0.11",
                EndpointStatus.ENABLED,
                MonitorStatus.ONLINE,
            )
            for region in REGIONS
        ),
    )


def moved(verdict: RegionVerdict, at: datetime) -> RegionVerdict:
    results = tuple(dataclasses.replace(r, started_at=at) for r in verdict.results)
    return dataclasses.replace(verdict, decided_at=at, results=results)


async def build(path: Path, days: int, templates: dict[str, RegionVerdict]) -> dict[str, int]:
    clock = ManualClock(START)
    store = Store(path, clock=clock, retention=timedelta(days=days + 1))
    await store.open()
    findings, profile = dns_findings(), tm_profile()

    def write_all() -> None:
        # The Store's own insert methods, called on its thread without a round trip per row.
        for step in range(days * 24 * 360):  # every 10 s
            at = START + timedelta(seconds=10 * step)
            for region in REGIONS:
                store._insert(moved(templates[region], at))
            if step % 3 == 0:  # every 30 s
                store._insert_dns(at.timestamp(), findings)
                store._insert_reading(Reading(at.timestamp(), profile))

    try:
        await store._call(write_all)
    finally:
        await store.close()
    db = sqlite3.connect(path)
    try:
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("verdicts", "results", "dns_results", "tm_readings", "tm_endpoints")
        }
    finally:
        db.close()


def drop_from_page_cache(path: Path) -> None:
    for name in (path, path.with_name(path.name + "-wal")):
        if name.exists():
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


async def time_open(path: Path) -> float:
    store = Store(path, clock=ManualClock(START), retention=timedelta(days=31))
    began = time.perf_counter()
    await store.open()
    elapsed = time.perf_counter() - began
    await store.close()
    return elapsed


def time_quick_check(path: Path) -> float:
    db = sqlite3.connect(path)
    try:
        began = time.perf_counter()
        rows = db.execute("PRAGMA quick_check(1)").fetchall()
        elapsed = time.perf_counter() - began
    finally:
        db.close()
    assert rows == [("ok",)], rows
    return elapsed


async def measure(path: Path, runs: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {
        "open, warm": [],
        "open, cold": [],
        "quick_check, warm": [],
        "quick_check, cold": [],
    }
    await time_open(path)  # warms the page cache
    for _ in range(runs):
        figures["open, warm"].append(await time_open(path))
        figures["quick_check, warm"].append(time_quick_check(path))
        drop_from_page_cache(path)
        figures["open, cold"].append(await time_open(path))
        drop_from_page_cache(path)
        figures["quick_check, cold"].append(time_quick_check(path))
    return figures


def section(
    counts: dict[str, int], size: int, days: int, figures: dict[str, list[float]], build_s: float
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(
        f"| {name} | {statistics.median(values):.2f} | {min(values):.2f}–{max(values):.2f} |"
        for name, values in figures.items()
    )
    runs = len(next(iter(figures.values())))
    built = f" (built in {build_s:.0f} s)" if build_s else ""
    return "\n".join(
        [
            BEGIN,
            "## Store start-up check",
            "",
            f"Command: `.venv/bin/python bench/store_check.py`, {now}.",
            f"A store of {days} days of the model configuration{built}: "
            f"{counts['verdicts']:,} verdicts, {counts['results']:,} results, "
            f"{counts['dns_results']:,} DNS results, {counts['tm_readings']:,} Traffic Manager "
            f"readings ({counts['tm_endpoints']:,} endpoint rows); {size / 2**20:,.0f} MiB. "
            "`open` is `Store.open()` (settings, `PRAGMA quick_check(1)`, the write check, the "
            "latest verdicts); `quick_check` is the pragma alone. Warm: the file in the page "
            "cache, as on a restart; cold: its pages dropped first (`posix_fadvise`), as after "
            f"a reboot. Median of {runs} runs, [min–max].",
            "",
            "| step | seconds | range |",
            "| --- | ---: | ---: |",
            rows,
            END,
        ]
    )


def write_into_docs(text: str) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    current = doc.read_text(encoding="utf-8")
    if BEGIN in current and END in current:
        head, _, rest = current.partition(BEGIN)
        _, _, tail = rest.partition(END)
        current = head + text + tail
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    doc.write_text(current, encoding="utf-8")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--store", type=Path, help="build (or reuse) the store here")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="regionwatch-bench-") as tmp:
        path = args.store or Path(tmp) / "regionwatch.db"
        build_s = 0.0
        if not path.exists():
            began = time.perf_counter()
            counts = await build(path, args.days, await real_rounds(Path(tmp)))
            build_s = time.perf_counter() - began
        else:
            db = sqlite3.connect(path)
            counts = {
                t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                for t in ("verdicts", "results", "dns_results", "tm_readings", "tm_endpoints")
            }
            db.close()
        figures = await measure(path, args.runs)
        text = section(counts, path.stat().st_size, args.days, figures, build_s)
    print(text)
    if not args.no_write:
        write_into_docs(text)


if __name__ == "__main__":
    asyncio.run(main())
