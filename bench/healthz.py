"""`/healthz` against a bare ASGI app on the same server: the ceiling (wrk) and the latency at a
constant 1,000 requests per second (hey), with 20 clients on the live stream; and how long a
round's change takes to reach those clients.

`.venv/bin/python bench/healthz.py` (also run by `make bench`; `--help` for its options).
Targets: `/healthz` serves at least 90 % of the requests per second of a bare ASGI app on the
same uvicorn while rounds run every second and 20 clients hold `GET /api/v1/stream` open, and
answers with p99 < 2 ms at a constant 1,000 req/s (reported); a round's change reaches a
connected client in under a second.

Three servers on one core, all up for the whole run and measured in turn, in rounds whose order
alternates, so a slow spell of a shared machine hits them alike:
- `bare`: an ASGI callable answering every request with the same status, body and headers as
  regionwatch's `/healthz` (`{"service":"ok"}`, content-type, cache-control, content-length);
- `regionwatch`: `create_app` for two regions whose HTTPS rounds (the 4 model requests of
  lab/sandbox.py) run every second against Debian's Nginx on loopback, set up like the model
  deployment (lab/templates/nginx-model-static.conf), with its SQLite store in a temporary
  file: the lifespan builds and starts the service as `regionwatch run` does. Its rounds go on
  while the others are measured; the share of the core they take then is reported;
- `nginx`: Debian's Nginx answering the same body from its configuration, the floor of what
  this machine and these clients can show.
The two Python servers run in child processes served by the project's own `api.server.serving`
(uvicorn, one worker, the guarded h11 protocol class, no access log, asyncio's loop), with
regionwatch's logging rendered to /dev/null. The load generators run pinned to the other core
(with the origins' Nginx, which answers 8 requests a second): `wrk -t1 -c32` for the ceiling;
for the latency, 4 `hey` processes of one worker at 250 requests per second each, started 1 ms
apart (hey's workers tick in step, so one process with 10 workers at 100/s would send bursts of
10 every 10 ms, not a constant rate). For the whole run, 20 clients in one more child process
on the load generators' core hold regionwatch's live stream open and note when each message
arrived; an engine subscriber in the server notes when each version and event was submitted,
and the two give submission → arrival at every client. Traffic stays on 127.0.0.1.

Prints a Markdown section and writes it into docs/benchmarks.md between this script's markers.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
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

from lab.nginx_server import (
    NGINX,
    NginxServer,
    child_setup,
    model_static_site,
    nginx_version,
)

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
STREAM_CLIENTS = 20  # live-stream clients connected to regionwatch for the whole run
STREAM_PATH = "/api/v1/stream"
DELIVERY_TARGET_MS = 1000.0  # a round's change at a connected client within a second (aim)
DELIVERY_GRACE = 2.0  # versions submitted this close to the clients' stop are not counted
FLOOR = "nginx"  # Nginx answering the same body on the same core: the machine's floor
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
        published = Published()
        if service is not None:
            await _first_rounds(service)
            started = {name: v.rounds_done for name, v in service.snapshot.regions.items()}
            watcher = service.engine.subscribe("bench-published", published.take)
            stack.push_async_callback(watcher.stop, grace=0)
            stack.callback(service.engine.unsubscribe, watcher)
        ready = {"url": served.base_url + "/healthz", "base": served.base_url}
        sys.stdout.write(json.dumps(ready) + "\n")
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
                "versions": published.versions,
                "events": published.events,
            }
        sys.stdout.write(json.dumps(stats) + "\n")
        sys.stdout.flush()


class Published:
    """When each snapshot version and each event was submitted to the engine, on the wall
    clock (shared with the streaming clients' process: the same machine): the snapshot's
    `made_at` (the moment the engine applied the evidence) less the publication's lag."""

    def __init__(self) -> None:
        self.versions: list[tuple[int, float, str]] = []  # (version, submitted, evidence)
        self.events: dict[str, float] = {}  # event id -> submitted

    async def take(self, publication: Any) -> None:
        submitted = publication.snapshot.made_at.timestamp() - publication.lag
        kind = type(publication.evidence).__name__
        self.versions.append((publication.snapshot.version, submitted, kind))
        for event in publication.events:
            self.events[event.id] = submitted


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


class _Child:
    """A child process of this script (`flag` and a JSON spec on its command line) pinned to
    `cpus`: its first line of output says it is ready, its last the figures it kept; closing
    its stdin is the sign to stop."""

    def __init__(self, flag: str, spec: dict[str, Any], cpus: set[int]) -> None:
        self._command = [sys.executable, str(Path(__file__).resolve()), flag, json.dumps(spec)]
        self._cpus = cpus
        self._process: subprocess.Popen[str] | None = None

    def _start(self, failed: str) -> dict[str, Any]:
        """Start it and return its first line, decoded; raise RuntimeError(`failed`) without."""
        self._process = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            preexec_fn=child_setup(self._cpus),
        )
        try:
            assert self._process.stdout is not None
            line = self._process.stdout.readline()  # the child's own 20 s deadline bounds it
            if not line:
                raise RuntimeError(failed)
            first: dict[str, Any] = json.loads(line)
        except BaseException:
            self._kill()
            raise
        return first

    def _stop(self) -> dict[str, Any]:
        """Stop it and return its last line, decoded ({} when it said nothing in time)."""
        process = self._process
        if process is None:
            return {}
        try:
            out, _ = process.communicate(timeout=20)
            lines = out.strip().splitlines()
            last: dict[str, Any] = json.loads(lines[-1]) if lines else {}
            return last
        except subprocess.TimeoutExpired:
            return {}
        finally:
            self._kill()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)


class Server(_Child):
    """One server child on SERVER_CPU until the `with` block ends."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__("--serve", spec, {SERVER_CPU})
        self.spec = spec
        self.url = ""
        self.base = ""
        self.stats: dict[str, Any] = {}

    def __enter__(self) -> Server:
        first = self._start(f"the {self.spec['kind']} server did not start")
        self.url, self.base = first["url"], first["base"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stats = self._stop()

    def cpu_seconds(self) -> float:
        return _process_cpu(self.pid)


def _process_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Floor:
    """Nginx on SERVER_CPU answering `/healthz` with the same body: what the machine allows
    at all (a C server, one worker), measured with the same clients."""

    def __init__(self, site: NginxServer) -> None:
        self.url = f"http://{site.address}:{site.http_port}/healthz"
        self.pid = site.pid
        self.stats: dict[str, Any] = {}

    def cpu_seconds(self) -> float:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return sum(_process_cpu(pid) for pid in [self.pid, *map(int, children)])


# ----------------------------------------------------------------------------- the live stream


async def _stream_client(address: str, port: int, seen: list[Any], ready: asyncio.Event) -> None:
    """One client holding `GET /api/v1/stream` open and reading it as it comes: each
    `snapshot` and `change` message is noted with the wall-clock moment its data line arrived.
    (The body is chunked; chunk-size lines are neither `event:` nor `data:`, and each message
    is one chunk, so reading lines is enough.)"""
    try:
        reader, writer = await asyncio.open_connection(address, port)
    except BaseException:
        ready.set()  # a client that failed before its first message must not hold the rest up
        raise
    try:
        writer.write(
            f"GET {STREAM_PATH} HTTP/1.1\r\nHost: {address}:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"the stream answered {status.decode().strip()!r}")
        while (await reader.readline()).strip():
            pass  # the headers
        kind = ""
        while line := await reader.readline():
            if line.startswith(b"event: "):
                kind = line[7:].strip().decode()
            elif line.startswith(b"data: ") and kind in ("snapshot", "change"):
                received = time.time()
                data = json.loads(line[6:])
                seen.append((kind, data["version"] if kind == "snapshot" else data["id"], received))
                if kind == "snapshot":
                    ready.set()
        raise RuntimeError("the stream ended")
    finally:
        ready.set()  # a client that failed before its first message must not hold the rest up
        writer.close()


async def _streams(spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    host, _, port = spec["base"].removeprefix("http://").partition(":")
    seen: list[list[Any]] = [[] for _ in range(spec["clients"])]
    readies = [asyncio.Event() for _ in seen]
    tasks = [
        asyncio.create_task(_stream_client(host, int(port), s, r))
        for s, r in zip(seen, readies, strict=True)
    ]
    failed: list[str] = []
    try:
        async with asyncio.timeout(20):
            await asyncio.gather(*(r.wait() for r in readies))
        broken = [t for t in tasks if t.done()]
        if broken:
            raise RuntimeError(f"a live-stream client failed: {broken[0].exception()}")
        sys.stdout.write(json.dumps({"connected": time.time()}) + "\n")
        sys.stdout.flush()
        await loop.run_in_executor(None, sys.stdin.read)  # the parent closes it to stop us
        stopped = time.time()
    finally:
        for task in tasks:
            if task.done() and task.exception() is not None:
                failed.append(str(task.exception()))
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    sys.stdout.write(json.dumps({"stopped": stopped, "seen": seen, "failed": failed}) + "\n")
    sys.stdout.flush()


class Streams(_Child):
    """STREAM_CLIENTS clients holding regionwatch's live stream open, in one child process on
    LOAD_CPU, until the `with` block ends; then `result` holds what each received and when."""

    def __init__(self, base: str) -> None:
        super().__init__("--streams", {"base": base, "clients": STREAM_CLIENTS}, {LOAD_CPU})
        self.connected = 0.0
        self.result: dict[str, Any] = {}

    def __enter__(self) -> Streams:
        self.connected = self._start("the streaming clients did not all connect")["connected"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.result = self._stop()


def deliveries(connected: float, stream: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """Submission → arrival at each client, in ms, for every version submitted while all the
    clients were connected (and up to DELIVERY_GRACE s before they stopped): the first
    `snapshot` message a client received carrying that version or a later one (the stream
    coalesces versions: a later one carries the change too); and for every event, its `change`
    message. Not delivered by the end: counted as missed."""
    stopped = stream.get("stopped", 0.0)
    versions = [
        (v, t)
        for v, t, _ in stats.get("versions", [])
        if connected <= t <= stopped - DELIVERY_GRACE
    ]
    events = {i: t for i, t in stats.get("events", {}).items() if connected <= t}
    snapshot_ms: list[float] = []
    change_ms: list[float] = []
    missed = 0
    for seen in stream.get("seen", []):
        # A stream sends versions in order, so the first message carrying `version` or a later
        # one is the earliest to arrive.
        arrivals = sorted((v, at) for kind, v, at in seen if kind == "snapshot")
        numbers = [v for v, _ in arrivals]
        changes = {i: at for kind, i, at in seen if kind == "change"}
        for version, submitted in versions:
            first = bisect.bisect_left(numbers, version)
            if first < len(arrivals):
                snapshot_ms.append((arrivals[first][1] - submitted) * 1000)
            else:
                missed += 1
        for event, submitted in events.items():
            if event in changes:
                change_ms.append((changes[event] - submitted) * 1000)
            else:
                missed += 1
    return {
        "snapshot_ms": snapshot_ms,
        "change_ms": change_ms,
        "versions": len(versions),
        "events": len(events),
        "missed": missed,
        "failed": stream.get("failed", []),
        "clients": len(stream.get("seen", [])),
    }


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


def hey(url: str, seconds: float, server: Server | Floor) -> dict[str, Any]:
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
    """Both servers answer /healthz with the same status, body and content headers (the date
    and the server's name aside: a fresh connection's first `/healthz` is answered on the wire,
    before uvicorn, which adds them)."""

    def get(url: str) -> tuple[int, bytes, list[tuple[str, str]]]:
        host, _, rest = url.removeprefix("http://").partition("/")
        address, _, port = host.partition(":")
        connection = http.client.HTTPConnection(address, int(port), timeout=5)
        try:
            connection.request("GET", "/" + rest)
            response = connection.getresponse()
            kept = ("content-type", "content-length", "cache-control")
            headers = sorted((k.lower(), v) for k, v in response.getheaders() if k.lower() in kept)
            return response.status, response.read(), headers
        finally:
            connection.close()

    a, b = get(bare_url), get(other_url)
    return a == b, f"bare {a} vs regionwatch {b}"


# ----------------------------------------------------------------------------- the run


def measure(
    args: argparse.Namespace, site: NginxServer, floor: Floor, workdir: Path
) -> dict[str, Any]:
    spec = {
        "site": {
            "address": site.address,
            "port": site.port,
            "http_port": site.http_port,
            "ca_file": str(site.ca_file),
        },
        "store": str(workdir / "regionwatch.db"),
    }
    with contextlib.ExitStack() as stack:
        servers: dict[str, Server | Floor] = {
            kind: stack.enter_context(Server({**spec, "kind": kind})) for kind in KINDS
        }
        servers[FLOOR] = floor
        same, detail = same_answer(servers["bare"].url, servers["regionwatch"].url)
        if not same:
            raise SystemExit(f"the two servers answer differently: {detail}")
        # Left last, so stopped first: the clients' results are complete before the server's.
        background = servers["regionwatch"]
        assert isinstance(background, Server)
        streams = stack.enter_context(Streams(background.base))
        kinds = (*KINDS, FLOOR)
        with step("warm-up"):
            for kind in kinds:
                wrk(servers[kind].url, 2)
        ceilings: list[dict[str, Any]] = []
        with step(f"wrk: {args.rounds} rounds of {args.seconds:g} s per server"):
            for round_ in range(1, args.rounds + 1):
                for kind in kinds if round_ % 2 else kinds[::-1]:
                    before = background.cpu_seconds()
                    started = time.perf_counter()
                    got = wrk(servers[kind].url, args.seconds)
                    idle_cpu = (background.cpu_seconds() - before) / (time.perf_counter() - started)
                    ceilings.append({"kind": kind, "round": round_, **got, "rw_cpu": idle_cpu})
        latencies: list[dict[str, Any]] = []
        what = f"hey at {RATE}/s: {args.latency_rounds} rounds of {args.latency_seconds:g} s"
        with step(what):
            for round_ in range(1, args.latency_rounds + 1):
                for kind in kinds if round_ % 2 else kinds[::-1]:
                    got = hey(servers[kind].url, args.latency_seconds, servers[kind])
                    latencies.append({"kind": kind, "round": round_, **got})
    stats = servers["regionwatch"].stats  # told by the child as it stopped
    delivered = deliveries(streams.connected, streams.result, stats)
    return {
        "ceilings": ceilings,
        "latencies": latencies,
        "regionwatch": stats,
        "deliveries": delivered,
    }


# ----------------------------------------------------------------------------- the report


def report(args: argparse.Namespace, results: dict[str, Any], facts: dict[str, str]) -> str:
    command = " ".join([".venv/bin/python bench/healthz.py", *args.argv])
    kinds = (*KINDS, FLOOR)
    ceilings = {k: [r for r in results["ceilings"] if r["kind"] == k] for k in kinds}
    latencies = {k: [r for r in results["latencies"] if r["kind"] == k] for k in kinds}
    bare_rps = {r["round"]: r["rps"] for r in ceilings["bare"]}
    ratios = {k: [r["rps"] / bare_rps[r["round"]] for r in ceilings[k]] for k in kinds}
    ratio = median(ratios["regionwatch"])
    background = median(r["rw_cpu"] for r in ceilings["bare"])
    lines = [
        begin_marker(SCRIPT),
        "## /healthz",
        "",
        f"Command: `{command}` (`make bench`), {facts['date']}.",
        f"Three servers on CPU {SERVER_CPU}, all up for the whole run and measured in turn, "
        "the order alternating from round to round: `bare`, an ASGI callable answering with "
        "`/healthz`'s status, body and headers (checked equal first), and `regionwatch`, "
        "`create_app` for two regions whose rounds (the 4 model requests) run every second "
        "against Debian's Nginx on 127.0.0.1 (`lab/templates/nginx-model-static.conf`, "
        "store in a temporary file, lifespan as `regionwatch run`), each in a child process "
        "served by `api.server.serving` (uvicorn, one worker, the guarded h11 protocol, no access "
        f"log, asyncio's loop); and `{FLOOR}`, Debian's Nginx (one worker) answering the same "
        "body from its configuration: the floor of this machine. Load generators pinned to CPU "
        f"{LOAD_CPU} (with the origins' Nginx): `wrk -t1 -c{WRK_CONNECTIONS} "
        f"-d{args.seconds:g}s` × {args.rounds} rounds (after 2 s of warm-up each) for the "
        f"ceiling, × bare being the median of the per-round ratios; for the latency, "
        f"{HEY_STREAMS} × `hey -z {args.latency_seconds:g}s -c 1 -q {RATE / HEY_STREAMS:g}` "
        f"started {1000 / RATE:g} ms apart × {args.latency_rounds} rounds: {RATE:,} req/s "
        "evenly spaced in all on kept-alive connections (hey's workers tick in step: `-c 10 "
        "-q 100` would send bursts of 10 every 10 ms); hey reports latencies in 0.1 ms steps, "
        "percentiles are over every request of the rounds (p99 of each round beside them). "
        "Server CPU: utime + stime (`/proc/PID/stat`, Nginx's worker included) during the "
        "hey runs, as a share of the core. For the whole run (every wrk and hey round, each "
        f"server's), {STREAM_CLIENTS} clients hold regionwatch's live stream "
        f"(`GET {STREAM_PATH}`) open and read it continuously, from one more child process "
        f"pinned to CPU {LOAD_CPU} (asyncio, one kept-alive connection each).",
        "",
        "| server | wrk req/s (median) | range | × bare | at 1,000/s: achieved | p50 (ms) "
        "| p99 (ms) | p99 per round (ms) | max (ms) | server CPU | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def all_of(kind: str) -> list[float]:
        return [x for r in latencies[kind] for x in r["latencies_ms"]]

    for kind in kinds:
        rps = [r["rps"] for r in ceilings[kind]]
        rows = latencies[kind]
        per_round = " / ".join(f"{percentile(r['latencies_ms'], 0.99):.1f}" for r in rows)
        errors = sum(r["errors"] for r in (*ceilings[kind], *rows))
        lines.append(
            f"| {kind} | {median(rps):,.0f} | {min(rps):,.0f}–{max(rps):,.0f} "
            f"| {median(ratios[kind]):.2f} | {median(r['achieved'] for r in rows):,.0f}/s "
            f"| {percentile(all_of(kind), 0.5):.2f} | {percentile(all_of(kind), 0.99):.2f} "
            f"| {per_round} | {max(all_of(kind)):.2f} "
            f"| {median(r['server_cpu'] for r in rows):.0%} | {errors} |"
        )
    p99 = percentile(all_of("regionwatch"), 0.99)
    stats = results["regionwatch"]
    delivered = results["deliveries"]
    snapshot_ms, change_ms = delivered["snapshot_ms"], delivered["change_ms"]
    worst = max([*snapshot_ms, *change_ms], default=float("nan"))
    delivery_met = (
        bool(snapshot_ms)
        and worst < DELIVERY_TARGET_MS
        and not delivered["missed"]
        and not delivered["failed"]
    )

    def spread(values: list[float]) -> str:
        if not values:
            return "| 0 | | | |"
        return (
            f"| {len(values):,} | {percentile(values, 0.5):.1f} | {percentile(values, 0.99):.1f} "
            f"| {max(values):.1f} |"
        )

    lines += [
        "",
        "Per-round ratios to bare: regionwatch "
        f"{', '.join(f'{x:.2f}' for x in ratios['regionwatch'])}. While `bare` was measured, "
        f"regionwatch's own rounds took {background:.1%} of the shared core (it stays up), "
        "which lowers bare's figure by about as much. regionwatch finished "
        f"{sum(stats.get('rounds', {}).values())} rounds over the run (its two regions' "
        "together); their statuses at the end: "
        f"{', '.join(stats.get('statuses', [])) or 'unknown'}.",
        "",
        "A round's change reaching a connected client: from the moment a round's evidence "
        "was submitted to the engine (the snapshot's `made_at`, when the engine applied it, "
        "less the publication's lag, as an engine subscriber in the server saw them) to the "
        "moment a streaming client read the `snapshot` message carrying that version or a "
        "later one (the stream sends at most one per 0.25 s, so a later version may carry it), "
        "and for an event, its `change` message; both clocks are this machine's wall clock. "
        f"Every version submitted while the {delivered['clients']} clients were connected, up "
        f"to {DELIVERY_GRACE:g} s before they stopped ({delivered['versions']:,} versions, "
        f"{delivered['events']} events), at every client:",
        "",
        "| message | deliveries | p50 (ms) | p99 (ms) | max (ms) |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| `snapshot` (a round's new version) {spread(snapshot_ms)}",
        f"| `change` (an event) {spread(change_ms)}",
        "",
        f"Not delivered by the end: {delivered['missed']}; clients that failed: "
        f"{len(delivered['failed'])}"
        + (f" ({'; '.join(sorted(set(delivered['failed'])))[:300]})" if delivered["failed"] else "")
        + ".",
        "",
        f"**`/healthz` / bare ASGI app, with {STREAM_CLIENTS} live-stream clients connected: "
        f"{ratio:.2f} of the requests per second (target ≥ "
        f"{RATIO_TARGET:.2f}): {'met' if ratio >= RATIO_TARGET else 'missed'}.** "
        f"p99 at a constant {RATE:,} req/s, reported (aim < {P99_TARGET_MS:g} ms; the ratio is "
        f"the target): {p99:.2f} ms, aim {'met' if p99 < P99_TARGET_MS else 'missed'}; "
        "the bare app on the same server: "
        f"{percentile(all_of('bare'), 0.99):.2f} ms; Nginx on the same core, this machine's "
        f"floor: {percentile(all_of(FLOOR), 0.99):.2f} ms. A round's change at a connected "
        f"client: p50 {percentile(snapshot_ms, 0.5):.1f} ms, p99 "
        f"{percentile(snapshot_ms, 0.99):.1f} ms, max {worst:.1f} ms (aim < "
        f"{DELIVERY_TARGET_MS:,.0f} ms, every delivery): "
        f"{'met' if delivery_met else 'missed'}.",
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
    parser.add_argument("--rounds", type=int, default=8, help="wrk rounds (default 8)")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="length of each wrk run (default 3)"
    )
    parser.add_argument("--latency-rounds", type=int, default=3, help="hey rounds (default 3)")
    parser.add_argument(
        "--latency-seconds", type=float, default=8.0, help="length of each hey run (default 8)"
    )
    parser.add_argument("--doc", type=Path, default=DOC, help="where to write the results")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--streams", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    if not 1 <= args.rounds <= 50 or not 1 <= args.latency_rounds <= 50:
        parser.error("expected 1 to 50 rounds")
    if not 1 <= args.seconds <= 120 or not 1 <= args.latency_seconds <= 120:
        parser.error("expected runs of 1 to 120 seconds")
    return args


def _version(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    return (done.stdout + done.stderr).strip().splitlines()[0]


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.serve:
        _serve_main(json.loads(args.serve))
        return 0
    if args.streams:
        asyncio.run(_streams(json.loads(args.streams)))
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
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory(prefix="regionwatch-bench-healthz-") as directory,
        NginxServer(model_static_site(hostname=HOSTNAME), cpus={LOAD_CPU}) as site,
    ):
        floor_site = stack.enter_context(
            NginxServer(model_static_site(hostname=HOSTNAME), cpus={SERVER_CPU})
        )
        results = measure(args, site, Floor(floor_site), Path(directory))
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
