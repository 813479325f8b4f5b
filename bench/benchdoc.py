"""What the newer benchmarks share: their section of docs/benchmarks.md, the machine they ran
on, the CPU other processes took meanwhile, percentiles, and the log sink.

A script owns the part of docs/benchmarks.md between its two markers and rewrites only that;
without markers yet, its section is appended.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import resource
import ssl
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "DOC",
    "ROOT",
    "MachineLoad",
    "begin_marker",
    "end_marker",
    "log_to_devnull",
    "machine",
    "percentile",
    "step",
    "write_section",
]

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def begin_marker(script: str) -> str:
    return f"<!-- bench/{script}: begin (generated, do not edit by hand) -->"


def end_marker(script: str) -> str:
    return f"<!-- bench/{script}: end -->"


def write_section(path: Path, script: str, block: str) -> None:
    """Replace `script`'s block in `path` (markers included in `block`), leaving the rest."""
    begin, end = begin_marker(script), end_marker(script)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block.rstrip("\n") + "\n"
    path.write_text(text, encoding="utf-8")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` of 0.99 is p99); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def machine(**versions: str) -> dict[str, str]:
    """The facts of this machine a reader needs to compare a figure, plus `versions`."""
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
        **versions,
        "load average at start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def _cpu_ticks() -> tuple[float, float, float]:
    """Seconds of CPU the whole machine spent busy, stolen, and in all, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick, sum(fields) / tick


def _own_cpu() -> float:
    """CPU seconds of this process and of every child it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class MachineLoad:
    """The machine's CPU used by processes other than this one and its waited-for children
    (a test suite, another benchmark) between `start` and `stop`: a high figure says the run
    is worth repeating. Children still running at `stop` (a server) count as others."""

    def __init__(self) -> None:
        self._start = (0.0, 0.0, 0.0, 0.0)
        self.others = 0.0
        self.steal = 0.0

    def start(self) -> None:
        self._start = (*_cpu_ticks(), _own_cpu())

    def stop(self, *, exclude_seconds: float = 0.0) -> None:
        """`exclude_seconds`: CPU of this run's own children not yet waited for."""
        busy, steal, total = _cpu_ticks()
        busy0, steal0, total0, own0 = self._start
        elapsed = max(total - total0, 1e-9)
        own = _own_cpu() - own0 + exclude_seconds
        self.others = max(0.0, (busy - busy0) - own) / elapsed
        self.steal = (steal - steal0) / elapsed

    def describe(self) -> dict[str, str]:
        return {
            "CPU used by other processes during the run": f"{self.others:.0%} of the machine",
            "CPU stolen by the hypervisor during the run": f"{self.steal:.1%}",
        }


def log_to_devnull() -> None:
    """regionwatch's own logging set-up (JSON lines, the library levels), written to
    /dev/null: every line is still rendered and written, as in production, but not kept."""
    from monitor.logs import configure_logging

    configure_logging(json=True)
    sink = Path(os.devnull).open("w")  # noqa: SIM115 - held for the whole process
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """Say on stderr what is being measured and how long it took."""
    print(f"… {what}", file=sys.stderr, flush=True)
    started = time.monotonic()
    yield
    print(f"  done in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
