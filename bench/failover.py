"""Time to fail over: a bad deploy to its endpoint Disabled, and the fix to Enabled again.

Beside it, what Traffic Manager's own probing would take.

`.venv/bin/python bench/failover.py` (also run by `make bench`; `--help` for its options).
Targets, with the default failover settings (`failing_rounds` 3, `healthy_rounds` 5):
- from the first failing probe after a bad deploy to the endpoint Disabled: at most
  failing_rounds × interval + 1 s;
- from the fix to the endpoint Enabled again (a first re-enable: no back-off): at most
  healthy_rounds × interval + 1 s.

Everything runs in this process, on loopback, with the lab's pieces: its two regional origins
(lab/origin.py) and its Traffic Manager emulator holding the lab's Geographic profile
(westeurope → GEO-EU, centralus → WORLD), read and written through the real Azure SDK. The
service is the real one (`build_service`: probes, engine, failover policy, actuator) in
`enforce` mode at a 1 s interval (`--interval`), with a fresh store each run. A run:
1. both regions healthy and Traffic Manager read;
2. a deploy of 2.0.0 to westeurope, marked (stored and submitted as `DeployMarked` evidence,
   as a deploy marker posted to the API is), and westeurope broken: every page answers 500;
3. timed from the first failing probe (the earliest request of the first failing round) and
   from the break to the endpoint Disabled in the emulator (polled every 10 ms), and from the
   decision (the audit record's `decided_at`) to Disabled: the write itself;
4. the fix: 2.0.1 rolled out and the fault gone; timed from the fix and from the first
   healthy probe to Enabled.
The stale cache: Ghost down behind Nginx after a marked deploy (`origin-down`): the page
readers get is served STALE with 200, the request that bypasses the cache gets 502; timed the
same way to Disabled.

Traffic Manager's own probing, beside it: the emulator's prober with the lab profile's
monitor at a 10 s interval (5 s timeout, 3 tolerated failures), one emulator and origin per
run, all runs at once (their probes cost next to nothing while the service is measured), the
break at a random moment of the probing cycle; timed from the break and from the first failing
probe to Degraded. At the default 30 s interval it is computed from the documented rule (an
endpoint is Degraded once its failures in a row exceed the tolerated number), not measured.
The stale cache once more: the emulator's prober probes `/` and gets 200 STALE, so the
endpoint stays Online round after round.

Prints a Markdown section and writes it into docs/benchmarks.md between this script's markers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    step,
    write_section,
)

sys.path.insert(0, str(ROOT))

SCRIPT = "failover.py"
HOSTNAME = "blog.example.com"
REGION = "westeurope"
DEFAULT_RUNS = 10
POLL_S = 0.01
# Traffic Manager's documented monitor settings: the default interval and the fast one.
TM_DEFAULT_INTERVAL_S = 30
TM_FAST_INTERVAL_S = 10
TM_FAST_TIMEOUT_S = 5
TM_TOLERATED = 3
# Probe rounds after the break during which the stale origin must stay Online: more than it
# takes a failing endpoint to turn Degraded (TM_TOLERATED + 1 failures in a row).
STALE_TM_ROUNDS = TM_TOLERATED + 2


def now() -> datetime:
    return datetime.now(UTC)


async def until(condition: Callable[[], bool], *, within: float, what: str) -> datetime:
    """Poll `condition` every POLL_S (the emulator's state has no event to wait on: it is
    looked at as a client would); the time it was first seen true."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit(f"bench/failover.py: gave up after {within:g}s waiting for {what}")
        await asyncio.sleep(POLL_S)
    return now()


# --------------------------------------------------------------- regionwatch against the lab


@dataclass
class Lab:
    """The lab's origins and emulator, shared by the runs; each run has its own service."""

    workdir: Path
    interval_s: float
    origins: dict[str, Any] = field(default_factory=dict)
    tm: Any = None
    ca_file: Path | None = None

    def config(self, store: Path) -> Any:
        from lab.sandbox import MODEL_REQUESTS
        from monitor.config import parse_config

        tm = self.tm
        interval = f"{self.interval_s:g}s"
        return parse_config(
            {
                "site": {"hostname": HOSTNAME},
                "regions": {
                    name: {"address": o.address, "port": o.https_port, "http_port": o.http_port}
                    for name, o in self.origins.items()
                },
                "tls": {"ca_file": str(self.ca_file)},
                "checks": {
                    "https": {"interval": interval, "timeout": interval, "requests": MODEL_REQUESTS}
                },
                "traffic_manager": tm.config_section(interval=interval),
                "failover": {"mode": "enforce"},
                "storage": {"path": str(store)},
            }
        )

    def endpoint_status(self) -> str:
        return str(self.tm.profile().endpoint(REGION).status.value)


async def regionwatch_run(lab: Lab, index: int, fault: str, rng: random.Random) -> dict[str, float]:
    """One bad deploy, disabled; then (for `error`) the fix, enabled again. Seconds."""
    from lab.origin import Fault
    from monitor.deploys import Deploy, DeploySource
    from monitor.evidence import DeployMarked, RoundFinished
    from monitor.results import OnFailure, Outcome, RegionStatus
    from monitor.service import build_service

    west = lab.origins[REGION]
    west.heal()
    west.deploy("1.0.0")
    # A new store owns nothing: an endpoint left Disabled would be someone else's.
    lab.tm.set_endpoint_status(REGION, "Enabled")
    rounds: list[Any] = []

    async def collect(publication: Any) -> None:
        evidence = publication.evidence
        if isinstance(evidence, RoundFinished) and evidence.verdict.region == REGION:
            rounds.append(evidence.verdict)

    config = lab.config(lab.workdir / f"{fault}-{index}.db")
    async with build_service(config) as service:
        service.engine.subscribe("bench", collect)
        service.start()

        def ready() -> bool:
            snapshot = service.snapshot
            tm = snapshot.traffic_manager
            return (
                all(
                    v.rounds_done and v.status is RegionStatus.HEALTHY
                    for v in snapshot.regions.values()
                )
                and tm is not None
                and tm.profile is not None
            )

        await until(ready, within=30, what="both regions healthy and Traffic Manager read")
        # The break comes at a random moment of the round cycle, as a real one would.
        await asyncio.sleep(rng.uniform(0, lab.interval_s))
        deploy = Deploy(f"bench-{fault}-{index}", REGION, "2.0.0", now(), DeploySource.MARKER)
        west.deploy("2.0.0")
        await service.store.record_deploy(deploy)
        service.engine.submit(DeployMarked(deploy))
        broke_at = now()
        if fault == "error":
            west.inject(Fault.ERROR, status=500)
        else:
            west.inject(Fault.ORIGIN_DOWN)
        disabled_at = await until(
            lambda: lab.endpoint_status() == "Disabled", within=60, what="the disable"
        )
        first_failing = min(
            r.started_at
            for v in rounds
            if v.status is RegionStatus.FAILING
            for r in v.results
            if r.outcome is Outcome.DOWN and r.on_failure is OnFailure.FAILOVER
        )
        if service.actuator is not None:
            await service.actuator.settle()
        [action] = await service.store.actions(region=REGION)
        run = {
            "failing_to_disabled": (disabled_at - first_failing).total_seconds(),
            "break_to_disabled": (disabled_at - broke_at).total_seconds(),
            "decided_to_disabled": (disabled_at - action.decided_at).total_seconds(),
        }
        if fault != "error":
            return run
        west.deploy("2.0.1")
        west.heal()
        fixed_at = now()
        enabled_at = await until(
            lambda: lab.endpoint_status() == "Enabled", within=60, what="the re-enable"
        )
        first_healthy = min(
            r.started_at
            for v in rounds
            if v.status is RegionStatus.HEALTHY and v.decided_at > fixed_at
            for r in v.results
        )
        run["fix_to_enabled"] = (enabled_at - fixed_at).total_seconds()
        run["healthy_to_enabled"] = (enabled_at - first_healthy).total_seconds()
        return run


async def regionwatch_runs(
    args: argparse.Namespace, workdir: Path
) -> dict[str, list[dict[str, float]]]:
    from lab.certs import LabCA
    from lab.loopback import loopback_address
    from lab.origin import RegionalOrigin
    from lab.trafficmanager import TrafficManagerEmulator

    ca = LabCA()
    lab = Lab(workdir, args.interval)
    lab.ca_file = ca.write_ca_pem(workdir / "lab-ca.pem")
    for index, name in enumerate(("westeurope", "centralus")):
        origin = RegionalOrigin(
            region=name, hostname=HOSTNAME, ca=ca, address=loopback_address(index)
        )
        await origin.start()
        lab.origins[name] = origin
    lab.tm = TrafficManagerEmulator(workdir=workdir, ca=ca.authority)
    await lab.tm.start()
    try:
        lab.tm.seed_lab_profile(targets={n: o.address for n, o in lab.origins.items()})
        for name in lab.origins:
            lab.tm.force_monitor_status(name, "Online")
        # The service's SDK authenticates as the emulator's contributor, from the environment.
        os.environ.update(
            {
                "AZURE_TENANT_ID": lab.tm.tenant_id,
                "AZURE_CLIENT_ID": lab.tm.client_id,
                "AZURE_CLIENT_SECRET": lab.tm.client_secret,
                "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
                "NO_PROXY": "127.0.0.1,localhost",
            }
        )
        rng = random.Random(args.seed)
        results: dict[str, list[dict[str, float]]] = {"error": [], "stale": []}
        for fault, runs in (("error", args.runs), ("stale", args.stale_runs)):
            for index in range(runs):
                results[fault].append(await regionwatch_run(lab, index, fault, rng))
                print(
                    f"  {fault} run {index + 1}/{runs}: {_brief(results[fault][-1])}",
                    file=sys.stderr,
                )
        return results
    finally:
        await lab.tm.stop()
        for origin in lab.origins.values():
            await origin.stop()


def _brief(run: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}s" for k, v in run.items())


# ------------------------------------------------------------------ Traffic Manager's probing


async def tm_probing_run(
    index: int, fault: str, rng: random.Random, ca: Any, lab_ca: Any
) -> dict[str, Any]:
    """The emulator's prober at TM_FAST_INTERVAL_S against one origin broken at a random moment
    of its cycle: when it turned Degraded (or, for the stale cache, what it saw)."""
    from lab.origin import Fault, RegionalOrigin
    from lab.trafficmanager import TrafficManagerEmulator
    from lab.trafficmanager.seed import LAB_TARGETS, lab_profile_body

    body = lab_profile_body()
    body["properties"]["monitorConfig"].update(
        intervalInSeconds=TM_FAST_INTERVAL_S,
        timeoutInSeconds=TM_FAST_TIMEOUT_S,
        toleratedNumberOfFailures=TM_TOLERATED,
    )
    origin = RegionalOrigin(region=REGION, hostname=HOSTNAME, ca=lab_ca)
    healthy = RegionalOrigin(region="centralus", hostname=HOSTNAME, ca=lab_ca)
    async with origin, healthy, TrafficManagerEmulator(ca=ca) as tm:
        tm.put_profile("blog", body)
        tm.prober.route(LAB_TARGETS[REGION], origin.address, origin.https_port)
        tm.prober.route(LAB_TARGETS["centralus"], healthy.address, healthy.https_port)
        tm.prober.start()  # at the profile's interval

        def health() -> Any:
            profile = tm.profile()
            return tm.state.health(profile, profile.endpoint(REGION))

        def monitor_status() -> str:
            profile = tm.profile()
            return str(tm.state.monitor_status(profile, profile.endpoint(REGION)).value)

        await until(lambda: monitor_status() == "Online", within=30, what="Traffic Manager Online")
        await asyncio.sleep(rng.uniform(0, TM_FAST_INTERVAL_S))
        broke_at, rounds_at_break = now(), tm.prober.rounds
        if fault == "error":
            origin.inject(Fault.ERROR, status=500)
        else:
            origin.inject(Fault.ORIGIN_DOWN)
        if fault == "stale":
            seen: list[str] = []
            statuses: set[str] = set()
            last = rounds_at_break
            deadline = TM_FAST_INTERVAL_S * (STALE_TM_ROUNDS + 2)
            async with asyncio.timeout(deadline):
                while tm.prober.rounds < rounds_at_break + STALE_TM_ROUNDS:
                    await asyncio.sleep(POLL_S * 5)
                    if tm.prober.rounds != last:
                        last = tm.prober.rounds
                        seen.append(health().detail)
                        statuses.add(monitor_status())
            return {"rounds": len(seen), "details": sorted(set(seen)), "statuses": sorted(statuses)}
        first_failure = await until(
            lambda: health().failures >= 1, within=TM_FAST_INTERVAL_S * 2, what="a failing probe"
        )
        degraded_at = await until(
            lambda: monitor_status() == "Degraded",
            within=TM_FAST_INTERVAL_S * (TM_TOLERATED + 3),
            what="Traffic Manager's Degraded",
        )
        return {
            "break_to_degraded": (degraded_at - broke_at).total_seconds(),
            "failing_to_degraded": (degraded_at - first_failure).total_seconds(),
        }


async def tm_probing(args: argparse.Namespace) -> dict[str, Any]:
    import trustme

    from lab.certs import LabCA

    ca = trustme.CA(organization_name="regionwatch bench (Traffic Manager emulator)")
    lab_ca = LabCA()
    rng = random.Random(args.seed)
    runs = [tm_probing_run(i, "error", rng, ca, lab_ca) for i in range(args.runs)]
    error, stale = await asyncio.gather(
        asyncio.gather(*runs), tm_probing_run(args.runs, "stale", rng, ca, lab_ca)
    )
    return {"error": list(error), "stale": stale}


# ----------------------------------------------------------------------------- the report


def _stats(values: list[float]) -> tuple[float, float]:
    return median(values), max(values)


def report(
    args: argparse.Namespace,
    ours: dict[str, list[dict[str, float]]],
    theirs: dict[str, Any],
    facts: dict[str, str],
) -> str:
    command = " ".join([".venv/bin/python bench/failover.py", *args.argv])
    interval = args.interval
    from monitor.config import FailoverConfig

    defaults = FailoverConfig()  # the runs' settings: the defaults, mode aside
    failing, healthy = defaults.failing_rounds, defaults.healthy_rounds
    disable_target = failing * interval + 1
    enable_target = healthy * interval + 1
    error, stale = ours["error"], ours["stale"]

    def row(label: str, runs: list[dict[str, float]], key: str, target: float | None) -> str:
        mid, top = _stats([r[key] for r in runs])
        goal = f"≤ {target:g} s" if target is not None else ""
        met = ("yes" if top <= target else "**no**") if target is not None else ""
        return f"| {label} | {len(runs)} | {mid:.2f} | {top:.2f} | {goal} | {met} |"

    tm_error = theirs["error"]
    tm_stale = theirs["stale"]
    brk = _stats([r["break_to_degraded"] for r in tm_error])
    first = _stats([r["failing_to_degraded"] for r in tm_error])
    slow_min, slow_max = (
        TM_TOLERATED * TM_DEFAULT_INTERVAL_S,
        (TM_TOLERATED + 1) * TM_DEFAULT_INTERVAL_S,
    )
    fast_min, fast_max = TM_TOLERATED * TM_FAST_INTERVAL_S, (TM_TOLERATED + 1) * TM_FAST_INTERVAL_S
    disabled, _ = _stats([r["failing_to_disabled"] for r in error])
    stale_disabled, _ = _stats([r["failing_to_disabled"] for r in stale])
    lines = [
        begin_marker(SCRIPT),
        "## Time to fail over",
        "",
        f"Command: `{command}` (`make bench`), {facts['date']}.",
        "In one process on loopback: the lab's two origins and its Traffic Manager emulator (the "
        "lab's Geographic profile, read and written through the real Azure SDK), and the real "
        f"service (`build_service`) in `enforce` mode, every region probed every {interval:g} s "
        "with the model's four requests, Traffic Manager read at the same interval, the default "
        f"failover settings (`failing_rounds` {failing}, `healthy_rounds` {healthy}), a fresh "
        "store each run. Each run: both regions healthy; a deploy of 2.0.0 to westeurope marked "
        "(stored and submitted as a deploy marker is) and westeurope broken with it (every page "
        "500), at a random moment of the round cycle; then 2.0.1 rolled out with the fault gone "
        "as soon as the endpoint is Disabled (just after a round: the longest wait for the "
        "next). The endpoint's status is polled in "
        f"the emulator every {POLL_S * 1000:g} ms. The first failing (healthy) probe is the "
        "earliest request of the first failing (healthy) round; the decision is the audit "
        "record's `decided_at`. The stale cache: Ghost down behind Nginx after a marked deploy "
        "(`origin-down`: the cached page STALE with 200, the request that bypasses the cache "
        "502). Targets: failing_rounds × interval + 1 s to disable, healthy_rounds × interval "
        "+ 1 s to enable again the first time (later re-enables within 24 h wait twice as many "
        "rounds each time); met when the slowest run is within it.",
        "",
        "| from → to | runs | median (s) | max (s) | target | met |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
        row(
            "bad deploy (500): first failing probe → Disabled",
            error,
            "failing_to_disabled",
            disable_target,
        ),
        row("bad deploy (500): the break → Disabled", error, "break_to_disabled", None),
        row(
            "bad deploy (500): decided → Disabled (intent synced, fresh read, PATCH)",
            error,
            "decided_to_disabled",
            None,
        ),
        row("the fix: first healthy probe → Enabled", error, "healthy_to_enabled", None),
        row("the fix: fixed → Enabled (first re-enable)", error, "fix_to_enabled", enable_target),
        row(
            "stale cache (Ghost down): first failing probe → Disabled",
            stale,
            "failing_to_disabled",
            disable_target,
        ),
        "",
        "Beside it, Traffic Manager's own probing of the same failure. It marks the endpoint "
        "Degraded once its failures in a row exceed `toleratedNumberOfFailures`; under "
        "Priority, Weighted and Performance routing that moves users, under Geographic routing "
        "(the model's) it moves nobody: only a Disabled endpoint does. Measured with the "
        f"emulator's prober (the lab profile's monitor at {TM_FAST_INTERVAL_S} s, "
        f"{TM_FAST_TIMEOUT_S} s timeout, {TM_TOLERATED} tolerated failures; {len(tm_error)} "
        "runs at once, each with its own emulator and origin, broken at a random moment of the "
        f"probing cycle); at {TM_DEFAULT_INTERVAL_S} s computed from that rule.",
        "",
        "| Traffic Manager probing | the break → Degraded (s) | first failing probe → Degraded (s) | how |",
        "| --- | ---: | ---: | --- |",
        f"| every {TM_DEFAULT_INTERVAL_S} s (the default), {TM_TOLERATED} tolerated failures | "
        f"{slow_min}–{slow_max} | {slow_min} | computed: Degraded at the {TM_TOLERATED + 1}th "
        "failing probe in a row, the first up to one interval after the break |",
        f"| every {TM_FAST_INTERVAL_S} s, {TM_TOLERATED} tolerated failures | median "
        f"{brk[0]:.1f}, max {brk[1]:.1f} (documented: {fast_min}–{fast_max}) | median "
        f"{first[0]:.1f}, max {first[1]:.1f} | measured, the emulator's prober |",
        f"| every {TM_FAST_INTERVAL_S} s, the stale cache | never: "
        f"{', '.join(tm_stale['statuses'])} for {tm_stale['rounds']} probe rounds after the break "
        f"(its probe of `/` got: {', '.join(tm_stale['details'])}) | never | measured, the "
        "emulator's prober |",
        "",
        f"**A bad deploy: Disabled {disabled:.1f} s (median) after the first failing probe, "
        f"where Traffic Manager's probing says Degraded after {slow_min}–{slow_max} s at its "
        f"default settings and {fast_min}–{fast_max} s at its fastest, and under Geographic "
        "routing moves nobody. The stale cache, which Traffic Manager never sees: Disabled "
        f"{stale_disabled:.1f} s after the first failing probe.** Either way, resolvers keep "
        "the old answer for up to the profile's TTL (60 s in the model) after the change.",
        "",
        "Machine of this run: "
        + "; ".join(f"{k}: {v}" for k, v in facts.items() if k != "date")
        + ".",
        end_marker(SCRIPT),
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- the command


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Runs the service against the lab's origins and Traffic Manager emulator in this "
        "process (about two and a half minutes with the defaults), then writes its section "
        "into docs/benchmarks.md (unless --no-write).",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=DEFAULT_RUNS,
        help=f"bad deploys measured (default {DEFAULT_RUNS}); as many Traffic Manager probing runs",
    )
    parser.add_argument(
        "--stale-runs", type=int, default=3, help="stale-cache runs of the service (default 3)"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="the service's interval in seconds (default 1)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="for the moments of the breaks (default 1)"
    )
    parser.add_argument("--doc", type=Path, default=DOC, help="where to write the results")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    args.argv = argv
    if not 1 <= args.runs <= 30 or not 1 <= args.stale_runs <= 30:
        parser.error("expected 1 to 30 --runs and --stale-runs")
    if not 1 <= args.interval <= 10:
        parser.error("expected an --interval of 1 to 10 seconds")
    return args


async def measure(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
        # Traffic Manager's probing takes most of a minute of waiting: it runs meanwhile.
        theirs = asyncio.create_task(tm_probing(args))
        with step(
            f"{args.runs} bad deploys and {args.stale_runs} stale caches, every {args.interval:g} s"
        ):
            ours = await regionwatch_runs(args, Path(tmp))
        with step("Traffic Manager's probing, finishing"):
            return ours, await theirs


def main(argv: list[str]) -> int:
    args = _parse(argv)
    log_to_devnull()
    facts = machine()
    load = MachineLoad()
    load.start()
    ours, theirs = asyncio.run(measure(args))
    load.stop()
    facts |= load.describe()
    block = report(args, ours, theirs, facts)
    print(block)
    if not args.no_write:
        write_section(args.doc, SCRIPT, block)
        print(f"written to {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
