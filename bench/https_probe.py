"""CPU per HTTPS probe and sustained probe rate, side by side against Debian's Nginx on loopback.

`make bench` runs `.venv/bin/python bench/https_probe.py`. In one run, against one Nginx:
- CPU per probe of regionwatch's `HttpsProbe`, a minimal asyncio + ssl probe and httpx with a
  new `AsyncClient` per probe, each in a child process pinned to one core (its own user + sys
  time around the measured loop), sequential and with a few probes in flight;
- the same for Prometheus' blackbox_exporter, its own CPU read from /proc while a client on
  the other core asks it for probes;
- the highest fixed rate at which `HttpsProbe` keeps up on one core with p99 lag < 100 ms.
The results are printed and written into docs/benchmarks.md between this script's markers.
Traffic goes to 127.0.0.1 only. The targets are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import importlib.util
import json
import os
import platform
import resource
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import quote

from lab.nginx_server import (
    NGINX,
    NginxServer,
    child_setup,
    free_port,
    nginx_version,
    static_site,
)

HOSTNAME = "blog.example.com"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench/https_probe.py: begin (generated, do not edit by hand) -->"
END = "<!-- bench/https_probe.py: end -->"
CPU_TARGET = 1.2
RATE_TARGET = 400
LAG_LIMIT_MS = 100.0
PROBE_TIMEOUT = 5.0
CLIENTS = {
    "regionwatch": "regionwatch `HttpsProbe`",
    "asyncio-ssl": "minimal asyncio + ssl",
    "httpx": "httpx, new `AsyncClient` per probe",
}
BLACKBOX_NAME = "blackbox_exporter"
# A patched copy of monitor/probes/https.py to measure instead of the real one (--probe-module).
PROBE_MODULE_ENV = "BENCH_PROBE_MODULE"

# The prober gets one core to itself; Nginx and the client driving blackbox_exporter share the
# other one (on a one-core machine everything shares it, and the figures say less).
_CPUS = sorted(os.sched_getaffinity(0))
PROBER_CPU = _CPUS[0]
SERVER_CPU = _CPUS[1] if len(_CPUS) > 1 else _CPUS[0]


def _environment() -> dict[str, str]:
    """The children's environment, without proxies: every request stays on loopback."""
    return {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}


# ----------------------------------------------------------------------------- the probers
# Each returns None when the probe saw a 200 with `<title>` in the body, else what went wrong.

Probe = Callable[[], Awaitable[str | None]]


def _regionwatch(address: str, port: int, context: ssl.SSLContext) -> Probe:
    from monitor.clock import SystemClock
    from monitor.config import HttpsRequest
    from monitor.results import Outcome

    https = _probe_module()
    request = HttpsRequest.model_validate(
        {"name": "home", "path": "/", "expect": {"body_contains": "<title>"}}
    )
    probe = https.HttpsProbe(
        https.HttpsTarget("bench", HOSTNAME, address, port),
        request,
        ssl_context=context,
        timeout=PROBE_TIMEOUT,
        clock=SystemClock(),
    )

    async def run() -> str | None:
        result = await probe.probe()
        return None if result.outcome is Outcome.UP else f"{result.outcome}: {result.reason}"

    return run


def _probe_module() -> Any:
    """monitor.probes.https, or the patched copy named by --probe-module (to try a change)."""
    path = os.environ.get(PROBE_MODULE_ENV)
    if not path:
        import monitor.probes.https

        return monitor.probes.https
    spec = importlib.util.spec_from_file_location("bench_probe_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def _asyncio_ssl(address: str, port: int, context: ssl.SSLContext) -> Probe:
    request = (
        f"GET / HTTP/1.1\r\nHost: {HOSTNAME}\r\nUser-Agent: bench\r\nAccept: */*\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    async def run() -> str | None:
        async with asyncio.timeout(PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection(
                address, port, ssl=context, server_hostname=HOSTNAME
            )
            try:
                writer.write(request)
                answer = await reader.read()
            finally:
                writer.close()
        if not answer.startswith(b"HTTP/1.1 200 ") or b"<title>" not in answer:
            return f"unexpected answer: {answer[:40]!r}"
        return None

    return run


def _httpx(address: str, port: int, context: ssl.SSLContext) -> Probe:
    import httpx

    url = f"https://{address}:{port}/"

    async def run() -> str | None:
        async with httpx.AsyncClient(verify=context, timeout=PROBE_TIMEOUT, trust_env=False) as c:
            response = await c.get(
                url, headers={"Host": HOSTNAME}, extensions={"sni_hostname": HOSTNAME}
            )
        if response.status_code != 200 or "<title>" not in response.text:
            return f"status {response.status_code}"
        return None

    return run


PROBERS: dict[str, Callable[[str, int, ssl.SSLContext], Probe]] = {
    "regionwatch": _regionwatch,
    "asyncio-ssl": _asyncio_ssl,
    "httpx": _httpx,
}


# ----------------------------------------------------------------------------- child processes


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _drive(run: Probe, count: int, in_flight: int) -> tuple[int, str]:
    """`count` probes, `in_flight` at a time; returns the failures and the first reason."""
    remaining = count
    failures = 0
    first = ""

    async def lane() -> None:
        nonlocal remaining, failures, first
        while remaining > 0:
            remaining -= 1
            try:
                reason = await run()
            except Exception as e:
                reason = f"{type(e).__name__}: {e}"
            if reason is not None:
                failures += 1
                first = first or reason

    async with asyncio.TaskGroup() as group:
        for _ in range(in_flight):
            group.create_task(lane())
    return failures, first


async def _cpu_worker(spec: dict[str, Any]) -> dict[str, Any]:
    from monitor.probes.https import build_ssl_context

    context = build_ssl_context(spec["ca_file"])
    run = PROBERS[spec["client"]](spec["address"], spec["port"], context)
    await _drive(run, spec["warmup"], spec["in_flight"])
    cpu, wall = _cpu_seconds(), time.perf_counter()
    failures, first = await _drive(run, spec["probes"], spec["in_flight"])
    return {
        "cpu_s": _cpu_seconds() - cpu,
        "wall_s": time.perf_counter() - wall,
        "failures": failures,
        "first_failure": first,
    }


async def _rate_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Launch one probe task at each tick of a fixed-rate schedule; lag = start - scheduled."""
    from monitor.probes.https import build_ssl_context

    context = build_ssl_context(spec["ca_file"])
    run = PROBERS[spec["client"]](spec["address"], spec["port"], context)
    await _drive(run, spec["warmup"], 1)
    loop = asyncio.get_running_loop()
    rate, total = spec["rate"], round(spec["rate"] * spec["seconds"])
    lags: list[float] = []
    ends: list[float] = []
    failures: list[str] = []
    tasks: set[asyncio.Task[None]] = set()
    finished = asyncio.Event()

    async def one(scheduled: float) -> None:
        lags.append(loop.time() - scheduled)
        try:
            reason = await run()
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
        ends.append(loop.time())
        if reason is not None:
            failures.append(reason)
        if len(ends) == total:
            finished.set()

    def tick(i: int) -> None:
        task = loop.create_task(one(start + i / rate))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if i + 1 < total:
            # Absolute times: a late tick does not push the rest of the schedule back.
            loop.call_at(start + (i + 1) / rate, tick, i + 1)

    cpu = _cpu_seconds()
    start = loop.time() + 0.05
    loop.call_at(start, tick, 0)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished.wait(), spec["seconds"] + PROBE_TIMEOUT + 5)
    unfinished = total - len(ends)
    for task in list(tasks):
        task.cancel()
    elapsed = max((max(ends) if ends else loop.time()) - start, spec["seconds"])
    cpu = _cpu_seconds() - cpu
    ordered = sorted(lags)
    return {
        "scheduled": total,
        "completed": len(ends),
        "failures": len(failures) + unfinished,
        "first_failure": failures[0] if failures else ("unfinished" if unfinished else ""),
        "achieved": len(ends) / elapsed,
        "lag_p50_ms": _percentile(ordered, 50) * 1000,
        "lag_p99_ms": _percentile(ordered, 99) * 1000,
        "lag_max_ms": (ordered[-1] if ordered else 0.0) * 1000,
        "cpu_share": cpu / elapsed,
    }


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def _worker_main(spec: dict[str, Any]) -> None:
    os.sched_setaffinity(0, {spec["cpu"]})
    measure = _rate_worker if spec["mode"] == "rate" else _cpu_worker
    print(json.dumps(asyncio.run(measure(spec))))


def _in_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(),
        check=False,
        preexec_fn=child_setup(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {spec['client']} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ----------------------------------------------------------------------------- blackbox_exporter

_BLACKBOX_CONFIG = """\
modules:
  https_blog:
    prober: http
    timeout: {timeout}s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
      headers:
        Host: {hostname}
      fail_if_body_not_matches_regexp: ["<title>"]
      tls_config:
        ca_file: {ca_file}
        server_name: {hostname}
"""


class Blackbox:
    """blackbox_exporter on 127.0.0.1, pinned to the prober's core, until the block ends."""

    def __init__(self, directory: Path, ca_file: Path, cpu: int) -> None:
        self.port = free_port()
        config = directory / "blackbox.yml"
        config.write_text(
            _BLACKBOX_CONFIG.format(timeout=PROBE_TIMEOUT, hostname=HOSTNAME, ca_file=ca_file)
        )
        self._log = (directory / "blackbox.log").open("wb")
        self._process = subprocess.Popen(
            [
                BLACKBOX,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_environment(),
            start_new_session=True,
            preexec_fn=child_setup({cpu}),
        )
        self._log_path = directory / "blackbox.log"

    def __enter__(self) -> Blackbox:
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"blackbox_exporter exited: {self._log_path.read_text()}")
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            try:
                connection.request("GET", "/-/healthy")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.05)
        raise RuntimeError("blackbox_exporter did not answer within 10s")

    def cpu_seconds(self) -> float:
        """utime + stime of the exporter (all its threads), from /proc/PID/stat."""
        stat = Path(f"/proc/{self._process.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def drive(self, target: str, count: int, in_flight: int) -> tuple[int, str]:
        """`count` GET /probe requests, `in_flight` at a time; failures and the first reason."""
        path = f"/probe?module=https_blog&target={quote(target, safe='')}"
        lock = threading.Lock()
        remaining = count
        failures = 0
        first = ""

        def lane() -> None:
            nonlocal remaining, failures, first
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                while True:
                    with lock:
                        if remaining <= 0:
                            return
                        remaining -= 1
                    connection.request("GET", path)
                    response = connection.getresponse()
                    body = response.read()
                    if response.status != 200 or b"\nprobe_success 1\n" not in b"\n" + body:
                        with lock:
                            failures += 1
                            first = first or _blackbox_failure(response.status, body)
            finally:
                connection.close()

        with ThreadPoolExecutor(in_flight) as pool:
            for future in [pool.submit(lane) for _ in range(in_flight)]:
                future.result()
        return failures, first

    def stop(self) -> None:
        process = self._process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._log.close()


def _blackbox_failure(status: int, body: bytes) -> str:
    lines = [
        line
        for line in body.decode(errors="replace").splitlines()
        if line.startswith(("probe_success", "probe_http_status_code", "probe_failed_due"))
    ]
    return f"HTTP {status}: " + "; ".join(lines)


def blackbox_version() -> str:
    done = subprocess.run([BLACKBOX, "--version"], capture_output=True, text=True, timeout=10)
    line = (done.stdout or done.stderr).splitlines()[0]
    return line.removeprefix("blackbox_exporter, version ").split(" ")[0]


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True, slots=True)
class CpuRun:
    """One round of one prober: `probes` probes, `in_flight` at a time."""

    client: str
    in_flight: int
    round: int
    probes: int
    cpu_s: float
    wall_s: float
    failures: int
    first_failure: str

    @property
    def ms_per_probe(self) -> float:
        return self.cpu_s / self.probes * 1000


@dataclass(frozen=True, slots=True)
class RateFigure:
    rate: int
    scheduled: int
    completed: int
    failures: int
    first_failure: str
    achieved: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    cpu_share: float

    @property
    def sustained(self) -> bool:
        return (
            self.achieved >= 0.98 * self.rate
            and self.failures == 0
            and self.completed == self.scheduled
            and self.lag_p99_ms < LAG_LIMIT_MS
        )


@contextlib.contextmanager
def _step(what: str) -> Iterator[None]:
    print(f"… {what}", file=sys.stderr, flush=True)
    started = time.monotonic()
    yield
    print(f"  done in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)


def _measure(args: argparse.Namespace, site: NginxServer, directory: Path) -> dict[str, Any]:
    base = {
        "address": site.address,
        "port": site.port,
        "ca_file": str(site.ca_file),
        "cpu": PROBER_CPU,
        "warmup": args.warmup,
    }
    cpu: list[CpuRun] = []
    target = f"https://{site.address}:{site.port}/"
    # Rounds interleave the probers, so a slow spell of a shared machine hits them all alike.
    with Blackbox(directory, site.ca_file, PROBER_CPU) as blackbox:
        for round_ in range(1, args.rounds + 1):
            for in_flight in (1, args.in_flight):
                what = f"round {round_}/{args.rounds}, {args.probes} probes, {in_flight} in flight"
                with _step(f"{BLACKBOX_NAME}: {what}"):
                    blackbox.drive(target, args.warmup, in_flight)
                    before, wall = blackbox.cpu_seconds(), time.perf_counter()
                    failures, first = blackbox.drive(target, args.probes, in_flight)
                    used = blackbox.cpu_seconds() - before
                    wall = time.perf_counter() - wall
                cpu.append(
                    CpuRun(
                        BLACKBOX_NAME, in_flight, round_, args.probes, used, wall, failures, first
                    )
                )
                for client in CLIENTS:
                    with _step(f"{client}: {what}"):
                        spec = {**base, "mode": "cpu", "client": client, "in_flight": in_flight}
                        got = _in_child({**spec, "probes": args.probes}, timeout=240)
                    cpu.append(CpuRun(client, in_flight, round_, args.probes, **got))

    rates: list[RateFigure] = []
    for rate in args.rates:
        with _step(f"regionwatch at {rate} probes/s for {args.rate_seconds:g}s"):
            spec = {
                **base,
                "mode": "rate",
                "client": "regionwatch",
                "rate": rate,
                "seconds": args.rate_seconds,
                "warmup": min(args.warmup, 50),
            }
            got = _in_child(spec, timeout=args.rate_seconds + PROBE_TIMEOUT + 60)
        figure = RateFigure(rate, **got)
        rates.append(figure)
        print(f"  {_rate_row(figure)}", file=sys.stderr, flush=True)
        if not figure.sustained:
            break
    return {"cpu": cpu, "rates": rates}


# ----------------------------------------------------------------------------- the report


def _cpu_ticks() -> tuple[float, float, float]:
    """Seconds of CPU the whole machine spent busy, stolen, and in all, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    busy = user + nice + system + irq + softirq
    return busy / tick, steal / tick, sum(fields) / tick


def _own_cpu() -> float:
    """CPU seconds of this process and of every child it has waited for (Nginx's workers too)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _machine() -> dict[str, str]:
    import h11
    import httpx

    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "nproc": str(os.cpu_count()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "nginx": nginx_version(),
        "blackbox_exporter": blackbox_version(),
        "httpx": httpx.__version__,
        "h11": h11.__version__,
    }


def _rate_row(f: RateFigure) -> str:
    verdict = "yes" if f.sustained else "**no**"
    failures = f"{f.failures}" + (f" ({f.first_failure[:60]})" if f.failures else "")
    return (
        f"| {f.rate} | {f.achieved:.1f} | {f.lag_p50_ms:.1f} | {f.lag_p99_ms:.1f} "
        f"| {f.lag_max_ms:.1f} | {failures} | {f.cpu_share:.0%} | {verdict} |"
    )


def report(args: argparse.Namespace, results: dict[str, Any], machine: dict[str, str]) -> str:
    cpu: list[CpuRun] = results["cpu"]
    rates: list[RateFigure] = results["rates"]
    command = " ".join([".venv/bin/python bench/https_probe.py", *args.argv])
    names = {BLACKBOX_NAME: "blackbox_exporter (its own CPU)", **CLIENTS}
    lines = [
        BEGIN,
        "",
        "## HTTPS probe CPU",
        "",
        f"Command: `{command}` (`make bench`), {machine['date']}.",
        f"{args.rounds} rounds of {args.probes} probes per row (after {args.warmup} of warm-up "
        "each), the probers interleaved in each round; each probe over a fresh TLS "
        f"connection (TLS 1.3, ECDSA P-256 certificate for `{HOSTNAME}`, verified) to Nginx on "
        f"127.0.0.1 (pinned to CPU {SERVER_CPU}). Python probers run in a child process pinned "
        f"to CPU {PROBER_CPU}; CPU = its own user + sys time (`getrusage`) around the loop / "
        f"probes. blackbox_exporter is pinned to CPU {PROBER_CPU} (so GOMAXPROCS=1); CPU = its "
        "utime + stime from `/proc/PID/stat`, while a client on the other core sends "
        "`GET /probe`; the client's CPU is not counted.",
        "",
        "CPU per probe is the median of the rounds, [min–max] beside it; × blackbox_exporter is "
        "the median of the per-round ratios.",
        "",
        "| prober | in flight | CPU per probe (ms) | × blackbox_exporter | wall probes/s "
        "| failures |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    reference = {(f.in_flight, f.round): f.ms_per_probe for f in cpu if f.client == BLACKBOX_NAME}
    ratios: dict[int, float] = {}
    for in_flight in sorted({f.in_flight for f in cpu}):
        for client, name in names.items():
            runs = [f for f in cpu if (f.client, f.in_flight) == (client, in_flight)]
            ms = [f.ms_per_probe for f in runs]
            ratio = median(f.ms_per_probe / reference[in_flight, f.round] for f in runs)
            if client == "regionwatch":
                ratios[in_flight] = ratio
            failures = sum(f.failures for f in runs)
            first = next((f.first_failure for f in runs if f.failures), "")
            lines.append(
                f"| {name} | {in_flight} | {median(ms):.2f} [{min(ms):.2f}–{max(ms):.2f}] "
                f"| {ratio:.2f} | {median(f.probes / f.wall_s for f in runs):.0f} "
                f"| {failures}{f' ({first[:60]})' if failures else ''} |"
            )
    all_up = all(f.failures == 0 for f in cpu)
    met = all_up and all(r <= CPU_TARGET for r in ratios.values())
    lines += [
        "",
        "**regionwatch / blackbox_exporter: "
        + ", ".join(f"{r:.2f} with {k} in flight" for k, r in sorted(ratios.items()))
        + f" (target ≤ {CPU_TARGET}): {'met' if met else 'missed'}.**"
        + ("" if all_up else " Some probes failed: these figures do not count."),
        "",
        "## Probe rate",
        "",
        f"Command: `{command}` (`make bench`), {machine['date']}, same run and target.",
        f"regionwatch's `HttpsProbe` in a child process pinned to CPU {PROBER_CPU}: one probe "
        f"task launched at each tick of a fixed-rate schedule (`loop.call_at`) for "
        f"{args.rate_seconds:g} s; lag = task start − scheduled start. Sustained = achieved ≥ "
        f"0.98 × R, every probe UP and p99 lag < {LAG_LIMIT_MS:g} ms; the ramp stops at the "
        "first rate that is not sustained.",
        "",
        "| R (probes/s) | achieved (/s) | lag p50 (ms) | lag p99 (ms) | lag max (ms) "
        "| failures | CPU of the core | sustained |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
        *(_rate_row(f) for f in rates),
        "",
    ]
    best = max((f.rate for f in rates if f.sustained), default=0)
    lines += [
        f"**Highest sustained rate: {best} probes/s"
        + (", the top of the ramp" if rates and rates[-1].sustained else "")
        + f" (target ≥ {RATE_TARGET}/s): {'met' if best >= RATE_TARGET else 'missed'}.**",
        "",
        "## Machine of this run",
        "",
        *(f"- {key}: {value}" for key, value in machine.items()),
        "",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_doc(path: Path, block: str) -> None:
    """Replace this script's block in `path`, leaving every other section as it is."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--probes", type=int, default=1000, help="probes per round and row")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the CPU rows")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured probes first")
    parser.add_argument("--in-flight", type=int, default=8, help="the concurrent CPU rows")
    parser.add_argument(
        "--rates",
        type=lambda s: [int(r) for r in s.split(",")],
        default=[100, 200, 300, 400, 500, 600, 700, 800, 1000],
        help="comma-separated probe rates to step through (default: %(default)s)",
    )
    parser.add_argument("--rate-seconds", type=float, default=10.0, help="length of each step")
    parser.add_argument("--doc", type=Path, default=DOC, help="where to write the results")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--probe-module",
        type=Path,
        help="measure this patched copy of monitor/probes/https.py as regionwatch's probe",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    return args


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.worker:
        _worker_main(json.loads(args.worker))
        return 0
    for binary, package in ((NGINX, "nginx"), (BLACKBOX, "prometheus-blackbox-exporter")):
        if not Path(binary).exists():
            print(f"{binary} is missing: bash scripts/install-debs.sh --bench", file=sys.stderr)
            print(f"(installs the Debian package {package})", file=sys.stderr)
            return 2
    if args.probe_module:
        os.environ[PROBE_MODULE_ENV] = str(args.probe_module.resolve())
        CLIENTS["regionwatch"] += f" from `{args.probe_module}`"
    # SIGTERM unwinds like Ctrl-C, so every `with` block stops what it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    os.sched_setaffinity(0, {SERVER_CPU})
    machine = _machine()
    machine["load average at start"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    busy, steal, total = _cpu_ticks()
    own = _own_cpu()
    with (
        tempfile.TemporaryDirectory(prefix="regionwatch-bench-") as directory,
        NginxServer(static_site(hostname=HOSTNAME), cpus={SERVER_CPU}) as site,
    ):
        results = _measure(args, site, Path(directory))
    # Other work on the machine (a test suite, another benchmark) shares the cores the pinning
    # assigned and makes every row slower; a run with a high figure here is worth repeating.
    busy_after, steal_after, total_after = _cpu_ticks()
    elapsed = max(total_after - total, 1e-9)
    others = max(0.0, (busy_after - busy) - (_own_cpu() - own)) / elapsed
    machine["CPU used by other processes during the run"] = f"{others:.0%} of the machine"
    machine["CPU stolen by the hypervisor during the run"] = (
        f"{(steal_after - steal) / elapsed:.1%}"
    )
    block = report(args, results, machine)
    print(block)
    if not args.no_write:
        write_doc(args.doc, block)
        print(f"written to {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
