"""Evidence to published snapshot: the engine's lag with 50 regions at a 1 s interval, and at 5×.

`.venv/bin/python bench/engine.py` (also run by `make bench`; `--help` for its options).
Target: p99 lag < 5 ms with 50 regions at a 1 s interval.

Each load runs in a child process pinned to one core, through the real composition root
(`build_service`: the Engine, the Recorder writing a SQLite store in a temporary file, the
event log subscriber), with regionwatch's own logging set-up rendering JSON lines to
/dev/null. Nothing is probed: the evidence is synthetic and shaped like the real thing, fed on
a fixed schedule with `loop.call_at`:
- every region's round once a second, the regions spread evenly over the second; each verdict
  has the four model requests' results (lab/sandbox.py) with the facts the probe records,
  decided by the real `monitor.evaluate.verdict`: 80 % of the regions healthy, 10 % degraded
  (`/ghost` exposed), 6 % failing (`home` 502) and 4 % flapping between failing and healthy
  every 5 s, so conditions open and close and events are recorded and logged all along;
- a Traffic Manager read every 30 s: a Geographic profile with one endpoint per region,
  parsed from its REST JSON by `parse_profile` (the failing regions' endpoints Degraded, one
  target drifted);
- a DNS round every 30 s: 4 resolvers × (plain + 4 vantage points), judged by `judge_answer`
  against that profile (one answer a mismatch).
A subscriber collects every `Publication.lag` (seconds from `submit` to published). After the
run, the pure step (`fold` + `derive`) is timed alone on the final snapshot, per kind of
evidence, to show where the time goes. Addresses are documentation ones (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24); no socket is opened.

Prints a Markdown section and writes it into docs/benchmarks.md between this script's markers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from benchdoc import (
    DOC,
    ROOT,
    MachineLoad,
    begin_marker,
    end_marker,
    log_to_devnull,
    machine,
    percentile,
    step,
    write_section,
)

sys.path.insert(0, str(ROOT))

SCRIPT = "engine.py"
HOSTNAME = "blog.example.com"
TARGET_P99_MS = 5.0
KEEP_UP_MS = 100.0
DEFAULT_LOADS = "50:1,50:5,250:1"
WARMUP_S = 3.0
TM_EVERY_S = 30.0
DNS_EVERY_S = 30.0
FLAP_S = 5
RESOLVERS = ("isp-west", "isp-east", "public-a", "public-b")
VANTAGE_POINTS = {
    "europe": "198.51.100.0/24",
    "america": "203.0.113.0/24",
    "asia": "192.0.2.0/24",
    "oceania": "2001:db8::/56",
}
_CPUS = sorted(os.sched_getaffinity(0))
ENGINE_CPU = _CPUS[0]


# ----------------------------------------------------------------------------- the evidence


def region_names(count: int) -> list[str]:
    return [f"region-{i:03d}" for i in range(count)]


def region_address(index: int) -> str:
    return f"192.0.2.{index + 1}" if index < 250 else f"198.51.100.{index - 249}"


def region_kind(index: int, count: int) -> str:
    share = index / count
    if share < 0.80:
        return "healthy"
    if share < 0.90:
        return "degraded"
    if share < 0.96:
        return "failing"
    return "flapping"


def build_config(count: int, workdir: Path, *, rate: float = 1.0) -> Any:
    from lab.sandbox import MODEL_REQUESTS
    from monitor.config import parse_config

    names = region_names(count)
    return parse_config(
        {
            "site": {"hostname": HOSTNAME},
            "regions": {name: {"address": region_address(i)} for i, name in enumerate(names)},
            "checks": {
                "https": {
                    "interval": f"{1000 / rate:g}ms",
                    "timeout": f"{1000 / rate:g}ms",
                    "requests": MODEL_REQUESTS,
                },
                "dns": {
                    "interval": f"{DNS_EVERY_S:g}s",
                    "resolvers": [
                        {"name": name, "address": f"203.0.113.{53 + i}"}
                        for i, name in enumerate(RESOLVERS)
                    ],
                    "vantage_points": [
                        {"name": name, "client_subnet": subnet, "expect_region": names[i]}
                        for i, (name, subnet) in enumerate(VANTAGE_POINTS.items())
                    ],
                },
            },
            "traffic_manager": {
                "interval": f"{TM_EVERY_S:g}s",
                "subscription_id": "00000000-0000-0000-0000-000000000000",
                "resource_group": "blog",
                "profile": "blog",
            },
            "storage": {"path": str(workdir / "engine.db")},
        }
    )


def _geo_codes(count: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    codes = [a + b for a in letters for b in letters]
    return ["WORLD", *codes[: count - 1]]


def profile_json(count: int) -> str:
    """The profile as ARM returns it: one external endpoint per region."""
    prefix = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/blog/providers/"
        "Microsoft.Network/trafficManagerProfiles/blog"
    )
    endpoints = []
    for i, (name, geo) in enumerate(zip(region_names(count), _geo_codes(count), strict=True)):
        kind = region_kind(i, count)
        target = region_address(i) if i != 1 else "192.0.2.254"  # one drifted target
        endpoints.append(
            {
                "id": f"{prefix}/externalEndpoints/{name}",
                "name": name,
                "type": "Microsoft.Network/trafficManagerProfiles/externalEndpoints",
                "properties": {
                    "endpointStatus": "Enabled",
                    "endpointMonitorStatus": "Degraded" if kind == "failing" else "Online",
                    "target": target,
                    "geoMapping": [geo],
                    "alwaysServe": "Disabled",
                },
            }
        )
    return json.dumps(
        {
            "id": prefix,
            "name": "blog",
            "type": "Microsoft.Network/trafficManagerProfiles",
            "location": "global",
            "properties": {
                "profileStatus": "Enabled",
                "trafficRoutingMethod": "Geographic",
                "dnsConfig": {"relativeName": "blog", "fqdn": "blog.trafficmanager.net", "ttl": 60},
                "monitorConfig": {
                    "profileMonitorStatus": "Degraded",
                    "protocol": "HTTPS",
                    "port": 443,
                    "path": "/healthz",
                    "intervalInSeconds": 30,
                    "timeoutInSeconds": 10,
                    "toleratedNumberOfFailures": 3,
                    "customHeaders": [{"name": "host", "value": HOSTNAME}],
                },
                "endpoints": endpoints,
            },
        }
    )


def dns_findings(config: Any, profile: Any) -> tuple[Any, ...]:
    from monitor.dnsmap import judge_answer
    from monitor.probes.dns import DnsAnswer, Hop

    names = list(config.regions)
    findings = []
    for r, resolver in enumerate(RESOLVERS):
        pairs: list[tuple[str | None, str | None]] = [(None, None)]
        pairs += [(v, names[i]) for i, v in enumerate(VANTAGE_POINTS)]
        for v, (vantage, expected) in enumerate(pairs):
            answered = expected or names[0]
            if r == 3 and v == 4:
                answered = names[10]  # one resolver sends one vantage point elsewhere
            index = names.index(answered)
            answer = DnsAnswer(
                resolver=resolver,
                vantage=vantage,
                rcode="NOERROR",
                addresses=(region_address(index),),
                address_ttl=60,
                hops=(Hop(HOSTNAME, "blog.trafficmanager.net", 300),),
                ecs_scope=24 if vantage is not None else None,
                ecs_sent=VANTAGE_POINTS[vantage] if vantage is not None else None,
                latency_ms=round(8 + 3 * v + r, 2),
            )
            findings.append(judge_answer(answer, expected=expected, config=config, profile=profile))
    return tuple(findings)


class Rounds:
    """Verdicts shaped like a real round's: the four model requests, their facts, the real
    `verdict`."""

    def __init__(self, config: Any, seed: int) -> None:
        self._rng = random.Random(seed)
        names = list(config.regions)
        self._kind = {name: region_kind(i, len(names)) for i, name in enumerate(names)}
        self._phase = {name: i % (2 * FLAP_S) for i, name in enumerate(names)}
        self._not_after = datetime(2027, 3, 1, tzinfo=UTC)

    def verdict(self, region: str, second: int) -> Any:
        from monitor.evaluate import verdict
        from monitor.results import CheckResult, FailureClass, OnFailure, Outcome

        now = datetime.now(UTC)
        kind = self._kind[region]
        failing = kind == "failing" or (
            kind == "flapping" and ((second + self._phase[region]) // FLAP_S) % 2 == 0
        )
        results = []
        for check, path_status, cache, bypass in (
            ("home", 502 if failing else 200, "BYPASS", "header"),
            ("home-cached", 200, "HIT", "off"),
            ("admin-blocked", 200 if kind == "degraded" else 404, "HIT", "off"),
            ("https-redirect", 301, None, "off"),
        ):
            rng = self._rng
            connect = round(rng.uniform(0.8, 3.0), 2)
            tls = check != "https-redirect"
            facts: dict[str, Any] = {"connect_ms": connect}
            if tls:
                days = (self._not_after - now).total_seconds() / 86400
                facts |= {
                    "tls_ms": round(connect + rng.uniform(4, 12), 2),
                    "cert_not_after": self._not_after.isoformat(),
                    "cert_days_left": round(days, 2),
                    "cert_issuer": "R11",
                }
            ttfb = round(connect + rng.uniform(6, 25), 2)
            facts |= {
                "ttfb_ms": ttfb,
                "status": path_status,
                "cache_status": cache,
                "x_host": f"{region}-nginx-7f9c",
                "release": "1.4.2" if tls else None,
                "bypass_cache": bypass,
                "body_bytes": 1244 if path_status == 200 else 153,
            }
            outcome, reason, meaning, where = Outcome.UP, "", OnFailure.FAILOVER, None
            if check == "home" and failing:
                outcome, reason, where = Outcome.DOWN, "status 502, expected 200", "content"
            if check == "admin-blocked" and kind == "degraded":
                outcome, reason, where = Outcome.DOWN, "status 200, expected 404", "content"
                meaning = OnFailure.ALERT
            results.append(
                CheckResult(
                    check=check,
                    kind="https",
                    region=region,
                    outcome=outcome,
                    started_at=now - timedelta(milliseconds=ttfb),
                    duration=timedelta(milliseconds=ttfb + 0.3),
                    reason=reason,
                    on_failure=meaning,
                    failure_class=FailureClass(where) if where else None,
                    latency_ms=ttfb,
                    facts=facts,
                    release=facts["release"],
                    vantage="local",
                    received_at=now,
                )
            )
        return verdict(region, results, now)


# ----------------------------------------------------------------------------- the child


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    from monitor.engine import Publication
    from monitor.evidence import DnsRoundFinished, RoundFinished, TrafficManagerRead
    from monitor.service import build_service
    from monitor.trafficmanager.model import parse_profile
    from monitor.trafficmanager.watch import Reading

    count: int = spec["regions"]
    rate: float = spec["rate"]  # rounds of each region per second
    seconds: float = spec["seconds"]
    total = WARMUP_S + seconds
    with tempfile.TemporaryDirectory(prefix="regionwatch-bench-engine-") as directory:
        config = build_config(count, Path(directory), rate=rate)
        raw_profile = profile_json(count)
        profile = parse_profile(json.loads(raw_profile))
        findings = dns_findings(config, profile)
        rounds = Rounds(config, seed=count)
        loop = asyncio.get_running_loop()
        async with build_service(config) as service:
            engine = service.engine
            measured: dict[int, tuple[str, Any]] = {}  # id(evidence) → kind (object kept alive)
            lags: list[tuple[str, float]] = []
            late: list[float] = []
            events = Counter[str]()
            window: dict[str, float] = {}

            async def collect(publication: Publication) -> None:
                entry = measured.get(id(publication.evidence))
                if entry is not None and entry[1] is publication.evidence:
                    lags.append((entry[0], publication.lag))
                    events.update(e.type.value for e in publication.events)

            collector = engine.subscribe("bench", collect, size=100_000)

            def submit(kind: str, at: float, make: Any) -> None:
                now = loop.time()
                evidence = make()
                if t0 + WARMUP_S <= at < t0 + total:
                    measured[id(evidence)] = (kind, evidence)
                    late.append(now - at)
                engine.submit(evidence)

            def mark(name: str) -> None:
                window[f"{name}_wall"] = time.perf_counter()
                window[f"{name}_cpu"] = _cpu()

            names = list(config.regions)
            t0 = loop.time() + 0.5
            for tick in range(int(total * rate)):
                second = int(tick / rate)
                for i, name in enumerate(names):
                    at = t0 + (tick + (i + 0.5) / count) / rate
                    loop.call_at(
                        at,
                        submit,
                        "round",
                        at,
                        lambda name=name, second=second: RoundFinished(
                            rounds.verdict(name, second)
                        ),
                    )
            for k in range(int(total // TM_EVERY_S) + 1):
                at = t0 + 0.1 + k * TM_EVERY_S
                loop.call_at(
                    at,
                    submit,
                    "traffic_manager",
                    at,
                    lambda: TrafficManagerRead(
                        Reading(time.time(), parse_profile(json.loads(raw_profile)))
                    ),
                )
            for k in range(int(total // DNS_EVERY_S) + 1):
                at = t0 + 0.6 + k * DNS_EVERY_S
                loop.call_at(
                    at,
                    submit,
                    "dns",
                    at,
                    lambda: DnsRoundFinished(datetime.now(UTC), findings),
                )
            loop.call_at(t0 + WARMUP_S, mark, "start")
            loop.call_at(t0 + total, mark, "end")
            await asyncio.sleep(t0 + total + 0.2 - loop.time())
            async with asyncio.timeout(60):
                await engine.settle()
            await collector.stop(grace=30)  # takes what is queued first
            engine.unsubscribe(collector)
            steps = _step_costs(engine.snapshot, config, names, rounds, raw_profile, findings)
            dropped = {"recorder": engine._recorder.dropped, "subscribers": collector.dropped}
    wall = window["end_wall"] - window["start_wall"]
    by_kind: dict[str, list[float]] = {}
    for kind, lag in lags:
        by_kind.setdefault(kind, []).append(lag * 1000)
    return {
        "regions": count,
        "rate": rate,
        "seconds": seconds,
        "expected": len(measured),
        "lags_ms": by_kind,
        "late_ms": [x * 1000 for x in late],
        "events": dict(events),
        "cpu_share": (window["end_cpu"] - window["start_cpu"]) / wall,
        "steps_us": steps,
        "dropped": dropped,
    }


def _step_costs(
    snapshot: Any,
    config: Any,
    names: list[str],
    rounds: Rounds,
    raw_profile: str,
    findings: tuple[Any, ...],
) -> dict[str, float]:
    """The pure step alone (fold + derive, as Engine._step calls them), median µs per kind."""
    from monitor.events import derive
    from monitor.evidence import DnsRoundFinished, RoundFinished, TrafficManagerRead
    from monitor.fold import fold
    from monitor.trafficmanager.model import parse_profile
    from monitor.trafficmanager.watch import Reading

    items = {
        "round (healthy region)": RoundFinished(rounds.verdict(names[0], 0)),
        "round (failing region)": RoundFinished(rounds.verdict(names[-5], 0)),
        "traffic_manager": TrafficManagerRead(
            Reading(time.time(), parse_profile(json.loads(raw_profile)))
        ),
        "dns": DnsRoundFinished(datetime.now(UTC), findings),
    }
    costs = {}
    for kind, evidence in items.items():
        times = []
        for _ in range(100):
            now = datetime.now(UTC)
            start = time.perf_counter()
            after = fold(snapshot, evidence, config=config, now=now)
            tuple(
                derive(
                    snapshot.conditions,
                    after.conditions,
                    at=after.made_at,
                    instance=after.instance,
                )
            )
            times.append(time.perf_counter() - start)
        costs[kind] = median(times) * 1e6
    return costs


def _worker_main(spec: dict[str, Any]) -> None:
    os.sched_setaffinity(0, {spec["cpu"]})
    log_to_devnull()
    result = asyncio.run(_load(spec))
    sys.stdout.write(json.dumps(result) + "\n")


def _in_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    from lab.nginx_server import child_setup

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
        raise SystemExit(f"the {spec['regions']}-region run failed (exit {process.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# ----------------------------------------------------------------------------- the report


def _stats(values: list[float]) -> str:
    return (
        f"{len(values)} | {percentile(values, 0.5):.2f} | {percentile(values, 0.99):.2f} "
        f"| {max(values):.2f}"
    )


def _label(run: dict[str, Any]) -> str:
    interval = 1000 / run["rate"]
    return f"{run['regions']} regions every {interval:g} ms"


def _keeps_up(run: dict[str, Any]) -> bool:
    """The engine keeps up: every item published within KEEP_UP_MS and a core not saturated."""
    everything = [x for values in run["lags_ms"].values() for x in values]
    return max(everything) < KEEP_UP_MS and run["cpu_share"] < 0.95


def report(args: argparse.Namespace, runs: list[dict[str, Any]], facts: dict[str, str]) -> str:
    command = " ".join([".venv/bin/python bench/engine.py", *args.argv])
    base = runs[0]
    base_rate = base["regions"] * base["rate"]
    lines = [
        begin_marker(SCRIPT),
        "## Engine: evidence to published snapshot",
        "",
        f"Command: `{command}` (`make bench`), {facts['date']}.",
        f"Each load in a child process pinned to CPU {ENGINE_CPU}, through `build_service` (the "
        "real Engine, Recorder and SQLite store in a temporary file, the event log subscriber "
        "with regionwatch's JSON logging rendered and written to /dev/null). Synthetic "
        "evidence submitted on a fixed schedule (`loop.call_at`): every region's round at its "
        "interval, the regions spread evenly over it (four model requests per verdict with the "
        "facts a probe records; 80 % of the regions healthy, 10 % degraded, 6 % failing, 4 % "
        f"flapping every {FLAP_S} s, so conditions open and close), a Traffic Manager read of "
        "a Geographic profile with one endpoint per region (`parse_profile`) every "
        f"{TM_EVERY_S:g} s, a DNS round of 4 resolvers × (plain + 4 vantage points) every "
        f"{DNS_EVERY_S:g} s. {args.seconds:g} s measured after {WARMUP_S:g} s of warm-up. "
        "Lag = `Publication.lag` (submit → published), collected by a subscriber. CPU = the "
        "process's user + sys time over the measured window (engine, producers, store thread, "
        f"subscribers) as a share of its core. Keeps up: every lag < {KEEP_UP_MS:g} ms and "
        "the core not saturated.",
        "",
        "| load | items/s | items | lag p50 (ms) | lag p99 (ms) | lag max (ms) | events "
        "| CPU of the core | keeps up |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for run in runs:
        everything = [x for values in run["lags_ms"].values() for x in values]
        rate = run["regions"] * run["rate"]
        times = f" ({rate / base_rate:g}×)" if run is not base else ""
        lines.append(
            f"| {_label(run)}{times} | {rate:g} | {_stats(everything)} "
            f"| {sum(run['events'].values())} | {run['cpu_share']:.0%} "
            f"| {'yes' if _keeps_up(run) else '**no**'} |"
        )
    lines += [
        "",
        "By kind of evidence (same runs), and the pure step alone (`fold` + `derive`, as "
        "`Engine._step` calls them, on the final snapshot, median of 100 calls):",
        "",
        "| load | evidence | items | lag p50 (ms) | lag p99 (ms) | lag max (ms) "
        "| step alone (ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    step_of = {"round": "round (healthy region)"}
    for run in runs:
        for kind in ("round", "traffic_manager", "dns"):
            values = run["lags_ms"].get(kind, [])
            step_ms = run["steps_us"][step_of.get(kind, kind)] / 1000
            shown = _stats(values) if values else "0 | | |"
            lines.append(f"| {_label(run)} | {kind} | {shown} | {step_ms:.2f} |")
        failing = run["steps_us"]["round (failing region)"] / 1000
        lines.append(f"| {_label(run)} | round of a failing region | | | | | {failing:.2f} |")
    lines.append("")
    for run in runs:
        late = run["late_ms"]
        lines.append(
            f"- {_label(run)}: timers fired p99 {percentile(late, 0.99):.2f} ms, max "
            f"{max(late):.2f} ms late; events in the window: "
            + (", ".join(f"{k} {v}" for k, v in sorted(run["events"].items())) or "none")
            + f"; dropped: recorder {run['dropped']['recorder']}, "
            f"collector {run['dropped']['subscribers']}."
        )
    everything = [x for values in base["lags_ms"].values() for x in values]
    p99 = percentile(everything, 0.99)
    verdict = "met" if p99 < TARGET_P99_MS else "missed"
    lines += [
        "",
        f"**p99 lag with {_label(base)}: {p99:.2f} ms (target < {TARGET_P99_MS:g} ms with 50 "
        f"regions every second): {verdict}.**",
        "",
        "Machine of this run: "
        + "; ".join(f"{k}: {v}" for k, v in facts.items() if k != "date")
        + ".",
        end_marker(SCRIPT),
    ]
    return "\n".join(lines) + "\n"


def _loads(text: str) -> list[tuple[int, float]]:
    loads = []
    for part in text.split(","):
        regions, _, rate = part.partition(":")
        loads.append((int(regions), float(rate or 1)))
    return loads


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Runs each load for --seconds (plus a few of warm-up) in a child process pinned "
        "to one core, then writes its section into docs/benchmarks.md (unless --no-write).",
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="measured seconds per load (default 30)"
    )
    parser.add_argument(
        "--loads",
        type=_loads,
        default=_loads(DEFAULT_LOADS),
        help="comma-separated REGIONS:ROUNDS_PER_SECOND loads, the first being the target's "
        f"(default {DEFAULT_LOADS}: the target, then 5× by rate and 5× by regions)",
    )
    parser.add_argument("--doc", type=Path, default=DOC, help="where to write the results")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    for regions, rate in args.loads:
        if not 1 <= regions <= 500 or not 0 < rate <= 20:
            parser.error(
                "expected 1 to 500 regions (the documentation addresses run out) "
                "and up to 20 rounds per second"
            )
    if not 1 <= args.seconds <= 300:
        parser.error("expected 1 to 300 --seconds")
    return args


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.worker:
        _worker_main(json.loads(args.worker))
        return 0
    facts = machine()
    load = MachineLoad()
    load.start()
    runs = []
    for regions, rate in args.loads:
        with step(f"{regions} regions, {rate:g} rounds/s each, for {args.seconds:g} s"):
            spec = {"regions": regions, "rate": rate, "seconds": args.seconds, "cpu": ENGINE_CPU}
            runs.append(_in_child(spec, timeout=WARMUP_S + args.seconds + 120))
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
