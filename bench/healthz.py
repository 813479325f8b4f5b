"""`/healthz` against a bare ASGI app on the same server: the ceiling (wrk) and the latency at a
constant 1,000 requests per second (hey).

`.venv/bin/python bench/healthz.py` (also run by `make bench`; `--help` for its options).
Targets: `/healthz` serves at least 90 % of the requests per second of a bare ASGI app on the
same uvicorn, and answers with p99 < 2 ms at a constant 1,000 req/s.

Two servers, one at a time, each in a child process pinned to one core, both served by the
project's own `api.server.serving` (uvicorn, one worker, the guarded h11 protocol class, no
access log, the same asyncio loop), with regionwatch's logging rendered to /dev/null:
- `bare`: an ASGI callable answering every request with the same status, body and headers as
  regionwatch's `/healthz` (`{"service":"ok"}`, content-type, cache-control, content-length);
- `regionwatch`: `create_app` for two regions whose HTTPS rounds (the 4 model requests of
  lab/sandbox.py) run every second against Debian's Nginx on loopback, set up like the model
  deployment (bench/model_nginx.py), with its SQLite store in a temporary file: the lifespan
  builds and starts the service as `regionwatch run` does.
The load generators run pinned to the other core (with Nginx, which answers 8 requests a
second): `wrk -t1 -c32` for the ceiling; for the latency, 4 `hey` processes of one worker at
250 requests per second each, started 1 ms apart (hey's workers tick in step, so one process
with 10 workers at 100/s would send bursts of 10 every 10 ms, not a constant rate). Rounds interleave the two servers (the order alternating), so a slow spell of
a shared machine hits both alike. Traffic stays on 127.0.0.1.

Prints a Markdown section and writes it into docs/benchmarks.md between this script's markers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
from model_nginx import ModelNginx
from nginx import NGINX, child_setup, nginx_version

sys.path.insert(0, str(ROOT))

SCRIPT = "healthz.py"
HOSTNAME = "blog.example.com"
WRK = "/usr/bin/wrk"
HEY = "/usr/bin/hey"
RATIO_TARGET = 0.90
P99_TARGET_MS = 2.0
RATE = 1000
HEY_STREAMS = 4  # hey processes of one worker each, RATE / HEY_STREAMS per second
WRK_CONNECTIONS = 32
KINDS = ("bare", "regionwatch")
_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU = _CPUS[0]
LOAD_CPU = _CPUS[1] if len(_CPUS) > 1 else _CPUS[0]

# regionwatch's /healthz answer with no region named and no api.local_region (api/healthz.py).
BARE_BODY = b'{"service":"ok"}'
BARE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"content-length", str(len(BARE_BODY)).encode()),
]


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The reference: the smallest ASGI answer with /healthz's status, body and headers."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": BARE_HEADERS})
    await send({"type": "http.response.body", "body": BARE_BODY})


# ----------------------------------------------------------------------------- the server child


def regionwatch_config(site: dict[str, Any], store: str) -> Any:
    from lab.sandbox import MODEL_REQUESTS
    from monitor.config import parse_config

    region = {"address": site["address"], "port": site["port"], "http_port": site["http_port"]}
    return parse_config(
        {
            "site": {"hostname": HOSTNAME},
            "regions": {"westeurope": region, "centralus": region},
            "tls": {"ca_file": site["ca_file"]},
            "checks": {"https": {"interval": "1s", "timeout": "1s", "requests": MODEL_REQUESTS}},
            "storage": {"path": store},
        }
    )


async def _serve(spec: dict[str, Any]) -> None:
    from api.app import create_app, lifespan_of
    from api.server import serving

    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        app: Any = bare_app
        service = None
        if spec["kind"] == "regionwatch":
            app = create_app(regionwatch_config(spec["site"], spec["store"]))
            await stack.enter_async_context(lifespan_of(app))
            service = app.state.service
        served = await stack.enter_async_context(serving(app, lifespan="off"))
        if service is not None:
            await _first_rounds(service)
            started = {name: v.rounds_done for name, v in service.snapshot.regions.items()}
        sys.stdout.write(json.dumps({"url": served.base_url + "/healthz"}) + "\n")
        sys.stdout.flush()
        await loop.run_in_executor(None, sys.stdin.read)  # the parent closes it to stop us
        stats: dict[str, Any] = {}
        if service is not None:
            regions = service.snapshot.regions
            stats = {
                "rounds": {n: v.rounds_done - started[n] for n, v in regions.items()},
                "statuses": sorted({v.status.value for v in regions.values()}),
                "outcomes": sorted(
                    {r.outcome.value for v in regions.values() for r in v.verdict.results}
                ),
            }
        sys.stdout.write(json.dumps(stats) + "\n")
        sys.stdout.flush()


async def _first_rounds(service: Any) -> None:
    """Wait (20 s at most) until every region has finished a round: measure the steady state."""
    done = asyncio.Event()

    def check(snapshot: Any) -> None:
        if all(view.rounds_done for view in snapshot.regions.values()):
            done.set()

    async def on_publication(publication: Any) -> None:
        check(publication.snapshot)

    watcher = service.engine.subscribe("bench-first-rounds", on_publication)
    check(service.snapshot)
    try:
        async with asyncio.timeout(20):
            await done.wait()
    finally:
        service.engine.unsubscribe(watcher)
        await watcher.stop(grace=0)


def _serve_main(spec: dict[str, Any]) -> None:
    os.sched_setaffinity(0, {SERVER_CPU})
    log_to_devnull()
    asyncio.run(_serve(spec))


class Server:
    """One server child on SERVER_CPU until the `with` block ends."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.url = ""
        self.stats: dict[str, Any] = {}
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Server:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", json.dumps(self.spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            preexec_fn=child_setup({SERVER_CPU}),
        )
        try:
            assert self._process.stdout is not None
            line = self._process.stdout.readline()  # the child's own 20 s deadline bounds it
            if not line:
                raise RuntimeError(f"the {self.spec['kind']} server did not start")
            self.url = json.loads(line)["url"]
        except BaseException:
            self._kill()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        process = self._process
        if process is None:
            return
        try:
            out, _ = process.communicate(timeout=20)  # closes its stdin: the sign to stop
            lines = out.strip().splitlines()
            self.stats = json.loads(lines[-1]) if lines else {}
        except subprocess.TimeoutExpired:
            pass
        finally:
            self._kill()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# ----------------------------------------------------------------------------- the clients


def _load(command: list[str], timeout: float) -> str:
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=child_setup({LOAD_CPU}),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()[:300]}")
    return done.stdout


def wrk(url: str, seconds: float) -> dict[str, float]:
    out = _load([WRK, "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s", url], timeout=seconds + 30)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise RuntimeError(f"wrk said no rate: {out[-300:]}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    wrong = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = sum(int(n) for n in errors.groups()) if errors else 0
    return {"rps": float(rate.group(1)), "errors": failed + (int(wrong.group(1)) if wrong else 0)}


def hey(url: str, seconds: float, server: Server) -> dict[str, Any]:
    """RATE requests a second for `seconds`: HEY_STREAMS hey processes of one worker each at
    RATE / HEY_STREAMS, started a fraction of their period apart. (hey's workers tick in step:
    `-c 10 -q 100` sends bursts of 10 every 10 ms, not a constant rate.)"""
    per_stream = RATE / HEY_STREAMS
    command = [HEY, "-z", f"{seconds:g}s", "-c", "1", "-q", f"{per_stream:g}", "-cpus", "1"]
    before = server.cpu_seconds()
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        streams = []
        for _ in range(HEY_STREAMS):
            streams.append(
                stack.enter_context(
                    subprocess.Popen(
                        [*command, "-o", "csv", url],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                        preexec_fn=child_setup({LOAD_CPU}),
                    )
                )
            )
            time.sleep(1 / RATE)  # the next stream a step later: evenly spaced, in all
        outputs = []
        for process in streams:
            try:
                out, err = process.communicate(timeout=seconds + 30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            if process.returncode != 0:
                raise RuntimeError(f"hey failed: {err.strip()[:300]}")
            outputs.append(out)
    wall = time.perf_counter() - started
    cpu = server.cpu_seconds() - before
    latencies, errors = [], 0
    for out in outputs:
        for line in out.splitlines()[1:]:
            fields = line.split(",")
            if len(fields) < 7:
                continue
            latencies.append(float(fields[0]) * 1000)
            errors += fields[6] != "200"
    return {
        "latencies_ms": latencies,
        "errors": errors,
        "achieved": len(latencies) / seconds,
        "server_cpu": cpu / wall,
    }


def same_answer(bare_url: str, other_url: str) -> tuple[bool, str]:
    """Both servers answer /healthz with the same status, body and headers (but the date)."""

    def get(url: str) -> tuple[int, bytes, list[tuple[str, str]]]:
        host, _, rest = url.removeprefix("http://").partition("/")
        address, _, port = host.partition(":")
        connection = http.client.HTTPConnection(address, int(port), timeout=5)
        try:
            connection.request("GET", "/" + rest)
            response = connection.getresponse()
            headers = sorted((k.lower(), v) for k, v in response.getheaders() if k != "date")
            return response.status, response.read(), headers
        finally:
            connection.close()

    a, b = get(bare_url), get(other_url)
    return a == b, f"bare {a} vs regionwatch {b}"


# ----------------------------------------------------------------------------- the run


@contextlib.contextmanager
def _servers(spec: dict[str, Any], kinds: tuple[str, ...]) -> Iterator[dict[str, Server]]:
    with contextlib.ExitStack() as stack:
        yield {kind: stack.enter_context(Server({**spec, "kind": kind})) for kind in kinds}


def measure(args: argparse.Namespace, site: ModelNginx, workdir: Path) -> dict[str, Any]:
    base = {
        "site": {
            "address": site.address,
            "port": site.port,
            "http_port": site.http_port,
            "ca_file": str(site.ca_file),
        },
    }
    with _servers({**base, "store": str(workdir / "check.db")}, KINDS) as both:
        same, detail = same_answer(both["bare"].url, both["regionwatch"].url)
    if not same:
        raise SystemExit(f"the two servers answer differently: {detail}")
    runs: list[dict[str, Any]] = []
    for round_ in range(1, args.rounds + 1):
        order = KINDS if round_ % 2 else KINDS[::-1]
        for kind in order:
            spec = {**base, "kind": kind, "store": str(workdir / f"{kind}-{round_}.db")}
            with step(f"round {round_}/{args.rounds}: {kind}"), Server(spec) as server:
                wrk(server.url, 2)  # warm-up, not counted
                ceiling = wrk(server.url, args.seconds)
                latency = hey(server.url, args.seconds, server)
            runs.append(
                {"kind": kind, "round": round_, **ceiling, **latency, "stats": server.stats}
            )
            print(
                f"  {kind}: {ceiling['rps']:.0f} req/s; at {RATE}/s p99 "
                f"{percentile(latency['latencies_ms'], 0.99):.2f} ms",
                file=sys.stderr,
                flush=True,
            )
    return {"runs": runs}


# ----------------------------------------------------------------------------- the report


def report(args: argparse.Namespace, results: dict[str, Any], facts: dict[str, str]) -> str:
    runs = results["runs"]
    command = " ".join([".venv/bin/python bench/healthz.py", *args.argv])
    by = {kind: [r for r in runs if r["kind"] == kind] for kind in KINDS}
    bare_rps = {r["round"]: r["rps"] for r in by["bare"]}
    ratios = [r["rps"] / bare_rps[r["round"]] for r in by["regionwatch"]]
    ratio = median(ratios)
    lines = [
        begin_marker(SCRIPT),
        "## /healthz",
        "",
        f"Command: `{command}` (`make bench`), {facts['date']}.",
        f"Each server in a child process pinned to CPU {SERVER_CPU}, served by "
        "`api.server.serving` (uvicorn, one worker, the guarded h11 protocol, no access log, "
        "asyncio's loop), started afresh for each measurement: `bare`, an ASGI callable "
        "answering with `/healthz`'s status, body and headers (checked equal first); "
        "`regionwatch`, `create_app` for two regions whose rounds (the 4 model requests) run "
        "every second against Debian's Nginx on 127.0.0.1 (`bench/model_nginx.py`), store in "
        f"a temporary file. Load generators pinned to CPU {LOAD_CPU} (with Nginx): "
        f"`wrk -t1 -c{WRK_CONNECTIONS} -d{args.seconds:g}s` after a 2 s warm-up for the "
        f"ceiling; for the latency, {HEY_STREAMS} × `hey -z {args.seconds:g}s -c 1 -q "
        f"{RATE / HEY_STREAMS:g}` started {1000 / RATE:g} ms apart, {RATE:,} req/s evenly "
        "spaced in all on kept-alive connections (hey's workers tick in step: `-c 10 -q 100` "
        "would send bursts of 10 every 10 ms); hey reports latencies in 0.1 ms steps. "
        f"{args.rounds} rounds, the servers' order alternating; the ratio is the "
        "median of the per-round ratios, the latencies are over every request of the rounds. "
        "Server CPU: its utime + stime (`/proc/PID/stat`) during the hey run, as a share of "
        "its core.",
        "",
        "| server | wrk req/s (median) | range | × bare | at 1,000/s: achieved | p50 (ms) "
        "| p99 (ms) | max (ms) | server CPU | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in KINDS:
        rows = by[kind]
        rps = [r["rps"] for r in rows]
        latencies = [x for r in rows for x in r["latencies_ms"]]
        times = f"{ratio:.2f}" if kind == "regionwatch" else "1.00"
        errors = sum(r["errors"] for r in rows)
        lines.append(
            f"| {kind} | {median(rps):,.0f} | {min(rps):,.0f}–{max(rps):,.0f} | {times} "
            f"| {median(r['achieved'] for r in rows):,.0f}/s "
            f"| {percentile(latencies, 0.5):.2f} | {percentile(latencies, 0.99):.2f} "
            f"| {max(latencies):.2f} | {median(r['server_cpu'] for r in rows):.0%} | {errors} |"
        )
    rw_latencies = [x for r in by["regionwatch"] for x in r["latencies_ms"]]
    p99 = percentile(rw_latencies, 0.99)
    rounds = [sum(r["stats"].get("rounds", {}).values()) for r in by["regionwatch"]]
    statuses = sorted({s for r in by["regionwatch"] for s in r["stats"].get("statuses", [])})
    lines += [
        "",
        f"Per-round ratios: {', '.join(f'{x:.2f}' for x in ratios)}. regionwatch ran "
        f"{', '.join(str(n) for n in rounds)} rounds (both regions together) while measured; "
        f"the regions' statuses at the end: {', '.join(statuses) or 'unknown'}.",
        "",
        f"**`/healthz` / bare ASGI app: {ratio:.2f} of the requests per second (target ≥ "
        f"{RATIO_TARGET:.2f}): {'met' if ratio >= RATIO_TARGET else 'missed'}. p99 at a "
        f"constant {RATE:,} req/s: {p99:.2f} ms (target < {P99_TARGET_MS:g} ms): "
        f"{'met' if p99 < P99_TARGET_MS else 'missed'}.**",
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
        epilog="Takes about two minutes on loopback (wrk, hey and Nginx from Debian: bash "
        "scripts/install-debs.sh --bench), then writes its section into docs/benchmarks.md "
        "(unless --no-write).",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--seconds", type=float, default=8.0, help="length of each wrk and hey run (default 8)"
    )
    parser.add_argument("--doc", type=Path, default=DOC, help="where to write the results")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    if not 1 <= args.rounds <= 20 or not 1 <= args.seconds <= 120:
        parser.error("expected 1 to 20 rounds of 1 to 120 seconds")
    return args


def _version(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    return (done.stdout + done.stderr).strip().splitlines()[0]


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.serve:
        _serve_main(json.loads(args.serve))
        return 0
    for binary, package in ((NGINX, "nginx"), (WRK, "wrk"), (HEY, "hey")):
        if not Path(binary).exists():
            print(f"{binary} is missing: bash scripts/install-debs.sh --bench", file=sys.stderr)
            print(f"(installs the Debian package {package})", file=sys.stderr)
            return 2
    # SIGTERM unwinds like Ctrl-C, so every `with` block stops what it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    import uvicorn

    facts = machine(
        nginx=nginx_version(),
        uvicorn=uvicorn.__version__,
        wrk=_version([WRK, "--version"]).split(" [")[0],
        hey="Debian's " + _dpkg_version("hey"),
    )
    load = MachineLoad()
    load.start()
    with (
        tempfile.TemporaryDirectory(prefix="regionwatch-bench-healthz-") as directory,
        ModelNginx(HOSTNAME, cpus={LOAD_CPU}) as site,
    ):
        results = measure(args, site, Path(directory))
    load.stop()
    facts |= load.describe()
    block = report(args, results, facts)
    print(block)
    if not args.no_write:
        write_section(args.doc, SCRIPT, block)
        print(f"written to {args.doc}", file=sys.stderr)
    return 0


def _dpkg_version(package: str) -> str:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
