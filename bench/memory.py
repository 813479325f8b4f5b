"""Memory: the RSS a service adds per 1,000 probe targets, over its idle baseline in the same run.

`.venv/bin/python bench/memory.py` (also run by `make bench`; `--help` for its options).
Target: at most 30 MB of RSS per 1,000 probe targets over the idle baseline measured in the
same run. A probe target is one request of one region: 250 regions × the 4 model requests of
lab/sandbox.py (home with the cache bypassed, the cached home, `/ghost` → 404, the HTTP
redirect) are 1,000 targets.

The origins run in a separate process, so their memory is not counted: Debian's Nginx set up
like the model deployment (lab/templates/nginx-model-static.conf; every model request answers
as expected), on 127.0.0.1, pinned to the other core. Every region points at that one Nginx
(the configuration allows regions to share an address). This process, pinned to one core, is what is measured:
1. baseline: after the imports, a 1-region service (`build_service`, its SQLite store in a
   temporary file, logging rendered to /dev/null) that has run a few rounds, still running;
2. the 250-region service, the baseline one stopped: every region's round a few times, all
   regions at once per round (as the scheduler starts them within an interval), each verdict
   submitted to the engine and recorded (`Service.run_round`, then `engine.settle()`).
RSS is `VmRSS` of /proc/self/status after `gc.collect()`; the peak is `VmHWM` (its
highest since the process started: the thousand connections in flight at once). At the end,
RSS after `malloc_trim(0)` says how much of it is still in use: glibc keeps heap pages freed
by the connections of a round rather than returning them.
Each row runs in a fresh child process: memory freed by one would stay in its heap and blur
the next. The second row runs the same rounds with at most `--in-flight` regions' rounds at a
time, to show what the figure depends on.

Prints a Markdown section and writes it into docs/benchmarks.md between this script's markers.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchdoc import (
    DOC,
    ROOT,
    MachineLoad,
    begin_marker,
    end_marker,
    log_to_devnull,
    machine,
    step,
    write_section,
)

sys.path.insert(0, str(ROOT))

from lab.nginx_server import (
    NGINX,
    NginxServer,
    child_setup,
    model_static_site,
    nginx_version,
)

SCRIPT = "memory.py"
HOSTNAME = "blog.example.com"
TARGET_MB = 30.0
_CPUS = sorted(os.sched_getaffinity(0))
SERVICE_CPU = _CPUS[0]
ORIGIN_CPU = _CPUS[1] if len(_CPUS) > 1 else _CPUS[0]


def status_kib(field: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def rss_mib() -> float:
    gc.collect()
    return status_kib("VmRSS") / 1024


def build_config(count: int, site: dict[str, Any], store: Path) -> Any:
    from lab.sandbox import MODEL_REQUESTS
    from monitor.config import parse_config

    return parse_config(
        {
            "site": {"hostname": HOSTNAME},
            "regions": {
                f"region-{i:03d}": {
                    "address": site["address"],
                    "port": site["port"],
                    "http_port": site["http_port"],
                }
                for i in range(count)
            },
            "tls": {"ca_file": site["ca_file"]},
            "checks": {"https": {"interval": "10s", "timeout": "5s", "requests": MODEL_REQUESTS}},
            "storage": {"path": str(store)},
        }
    )


async def run_rounds(
    service: Any, rounds: int, in_flight: int | None = None
) -> tuple[list[float], list[float], Counter[str]]:
    """`rounds` rounds of every region, all regions at once per round (or at most `in_flight`
    at a time); the RSS after each round, each round's wall time, every result's outcome."""
    outcomes = Counter[str]()
    after: list[float] = []
    walls: list[float] = []
    regions = service.rounds.regions
    limit = asyncio.Semaphore(in_flight or len(regions))

    async def one(region: str) -> Any:
        async with limit:
            return await service.run_round(region)

    for _ in range(rounds):
        started = time.perf_counter()
        verdicts = await asyncio.gather(*(one(region) for region in regions))
        walls.append(time.perf_counter() - started)
        await service.engine.settle()
        outcomes.update(r.outcome.value for v in verdicts for r in v.results)
        after.append(rss_mib())
    return after, walls, outcomes


async def measure(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """In the child: the baseline, then the many-region service; every figure in MiB."""
    from monitor.service import build_service

    site = spec["site"]
    imported = rss_mib()
    config = build_config(1, site, workdir / "baseline.db")
    async with build_service(config) as service:
        warm, _, base_outcomes = await run_rounds(service, spec["baseline_rounds"])
        baseline = rss_mib()
    targets_base = len(config.regions) * len(config.checks.https.requests)
    config = build_config(spec["regions"], site, workdir / "many.db")
    targets = len(config.regions) * len(config.checks.https.requests)
    async with build_service(config) as service:
        after_each, walls, outcomes = await run_rounds(service, spec["rounds"], spec["in_flight"])
        after = rss_mib()
        peak = status_kib("VmHWM") / 1024
        # What of it is still in use: glibc keeps freed heap pages unless told to return them.
        ctypes.CDLL(None).malloc_trim(0)
        trimmed = rss_mib()
    return {
        "in_flight": spec["in_flight"],
        "imported": imported,
        "baseline_rounds": warm,
        "baseline": baseline,
        "baseline_targets": targets_base,
        "baseline_outcomes": dict(base_outcomes),
        "targets": targets,
        "after_each": after_each,
        "walls": walls,
        "after": after,
        "peak": peak,
        "trimmed": trimmed,
        "outcomes": dict(outcomes),
    }


def _worker_main(spec: dict[str, Any]) -> None:
    os.sched_setaffinity(0, {spec["cpu"]})
    log_to_devnull()
    if spec.get("ssl_read_buffer"):
        # What a smaller TLS read buffer would give: asyncio's SSLProtocol allocates this many
        # bytes per connection (256 KiB in Python 3.11), a private class attribute.
        from asyncio import sslproto

        sslproto.SSLProtocol.max_size = spec["ssl_read_buffer"]
    with tempfile.TemporaryDirectory(prefix="regionwatch-bench-memory-") as directory:
        result = asyncio.run(measure(spec, Path(directory)))
    sys.stdout.write(json.dumps(result) + "\n")


def _in_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    with subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        preexec_fn=child_setup({spec["cpu"]}),
    ) as process:
        try:
            out, _ = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if process.returncode != 0:
        raise SystemExit(f"the measuring process failed (exit {process.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _per_1000(r: dict[str, Any], mib: float) -> float:
    return (mib - r["baseline"]) / (r["targets"] - r["baseline_targets"]) * 1000


def _row(args: argparse.Namespace, r: dict[str, Any]) -> str:
    regions = r["in_flight"] or args.regions
    rounds = " / ".join(f"{x:.0f}" for x in r["after_each"])
    walls = " / ".join(f"{w:.2f}" for w in r["walls"])
    up = r["outcomes"].get("up", 0)
    results = sum(r["outcomes"].values())
    return (
        f"| {regions} | {r['imported']:.1f} "
        f"| {r['baseline']:.1f} "
        f"| {rounds} | {r['after']:.1f} | {r['peak']:.1f} "
        f"| **{_per_1000(r, r['after']):.1f}** | {_per_1000(r, r['peak']):.1f} "
        f"| {_per_1000(r, r['trimmed']):.1f} "
        f"| {walls} | {up:,}/{results:,} |"
    )


def report(args: argparse.Namespace, runs: list[dict[str, Any]], facts: dict[str, str]) -> str:
    command = " ".join([".venv/bin/python bench/memory.py", *args.argv])
    headline = runs[0]
    per_1000 = _per_1000(headline, headline["after"])
    added = headline["targets"] - headline["baseline_targets"]
    verdict = "met" if per_1000 <= TARGET_MB else "missed"
    lines = [
        begin_marker(SCRIPT),
        "## Memory",
        "",
        f"Command: `{command}` (`make bench`), {facts['date']}.",
        f"The service in a child process pinned to CPU {SERVICE_CPU}; the origins in another: "
        "Debian's Nginx set up like the model deployment "
        "(`lab/templates/nginx-model-static.conf`: every model "
        f"request answers as expected) on 127.0.0.1, pinned to CPU {ORIGIN_CPU}, every region "
        "pointing at it. Baseline: after the imports, a 1-region service that has run "
        f"{args.baseline_rounds} rounds, still running. Then, in the same process, a "
        f"{args.regions}-region service ({headline['targets']:,} probe targets: the 4 model "
        f"requests per region), every region's round {args.rounds} times, each verdict "
        "submitted to the engine and recorded in SQLite (a temporary file); all regions' "
        "rounds started at once (the target's measure), and, in a fresh process, at most "
        f"{args.in_flight} regions' rounds at a time; in both, the probes in flight are bounded "
        "by `checks.https.concurrency` (default 64: each TLS connection in flight holds "
        "asyncio's 256 KiB read buffer). RSS = `VmRSS` after `gc.collect()`; "
        "peak = `VmHWM`; in use = RSS after `malloc_trim(0)` at the end (glibc otherwise "
        "keeps the heap pages it was given back, so RSS stays near the peak). Per 1,000 "
        f"targets: over the baseline, for the {added:,} targets "
        f"beyond the baseline's {headline['baseline_targets']}, scaled to 1,000."
        + (
            f" asyncio's per-connection TLS read buffer set to {args.ssl_read_buffer:,} bytes "
            "(`--ssl-read-buffer`; Python's own is 256 KiB)."
            if args.ssl_read_buffer
            else ""
        ),
        "",
        "| regions' rounds started at once | after imports (MiB) | baseline (MiB) | after each round (MiB) "
        "| end (MiB) | peak (MiB) | increment per 1,000 targets (MiB) "
        "| peak over baseline per 1,000 (MiB) | in use at the end per 1,000 (MiB) "
        "| round wall times (s) | results UP |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(_row(args, r) for r in runs),
        "",
        f"**RSS increment per 1,000 probe targets, all regions at once: {per_1000:.1f} MiB "
        f"(target ≤ {TARGET_MB:g} MB): {verdict}.**",
        "",
        "Machine of this run: "
        + "; ".join(f"{k}: {v}" for k, v in facts.items() if k != "date")
        + ".",
        end_marker(SCRIPT),
    ]
    return "\n".join(lines) + "\n"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Takes about half a minute against Nginx on loopback, then writes its section "
        "into docs/benchmarks.md (unless --no-write).",
    )
    parser.add_argument(
        "--regions", type=int, default=250, help="regions of the measured service (default 250)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every region (default 5)")
    parser.add_argument(
        "--baseline-rounds", type=int, default=3, help="rounds of the baseline (default 3)"
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=16,
        help="regions' rounds at a time in the second row (default 16; 0 leaves it out)",
    )
    parser.add_argument(
        "--ssl-read-buffer",
        type=int,
        metavar="BYTES",
        help="measure with asyncio's per-connection TLS read buffer set to BYTES (to try a "
        "change; default: Python's own, 256 KiB)",
    )
    parser.add_argument("--doc", type=Path, default=DOC, help="where to write the results")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    if not 2 <= args.regions <= 2000 or not 1 <= args.rounds <= 50:
        parser.error("expected 2 to 2000 regions and 1 to 50 rounds")
    if not 1 <= args.baseline_rounds <= 50 or args.in_flight < 0:
        parser.error("expected 1 to 50 baseline rounds and --in-flight of 0 or more")
    return args


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.worker:
        _worker_main(json.loads(args.worker))
        return 0
    if not Path(NGINX).exists():
        print(f"{NGINX} is missing: bash scripts/install-debs.sh --bench", file=sys.stderr)
        return 2
    # SIGTERM unwinds like Ctrl-C, so every `with` block stops what it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    facts = machine(nginx=nginx_version())
    load = MachineLoad()
    load.start()
    runs = []
    with NginxServer(model_static_site(hostname=HOSTNAME), cpus={ORIGIN_CPU}) as site:
        spec = {
            "site": {
                "address": site.address,
                "port": site.port,
                "http_port": site.http_port,
                "ca_file": str(site.ca_file),
            },
            "regions": args.regions,
            "rounds": args.rounds,
            "baseline_rounds": args.baseline_rounds,
            "cpu": SERVICE_CPU,
            "ssl_read_buffer": args.ssl_read_buffer,
        }
        for in_flight in [None, args.in_flight] if args.in_flight else [None]:
            what = f"{in_flight} at a time" if in_flight else "all at once"
            with step(f"baseline, then {args.regions} regions × {args.rounds} rounds, {what}"):
                runs.append(_in_child({**spec, "in_flight": in_flight}, timeout=300))
    load.stop()
    facts |= load.describe()
    block = report(args, runs, facts)
    print(block)
    if not args.no_write:
        write_section(args.doc, SCRIPT, block)
        print(f"written to {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
