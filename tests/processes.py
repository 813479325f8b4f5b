"""`regionwatch` as a real child process, for the end-to-end tests: started with a
configuration and the Traffic Manager emulator's identity, stopped by a signal, its stderr
kept in a file."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

__all__ = [
    "Run",
    "answers",
    "free_port",
    "lab_instances",
    "read_banner",
    "regionwatch",
    "run_cli",
    "run_operator_cli",
    "start_lab",
    "stopped_by",
]

# The child sets its own limit before regionwatch starts: the same as a shell's `ulimit -n`.
_LIMITED = (
    "import resource, runpy, sys; "
    "resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit})); "
    "sys.argv[0] = 'regionwatch'; runpy.run_module('regionwatch', run_name='__main__')"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Run:
    """A `regionwatch run` child process; its stderr goes to a file (no pipe to fill)."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: Path) -> None:
        self.process = process
        self.stderr_path = stderr

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    async def wait(self, timeout: float) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)


@asynccontextmanager
async def regionwatch(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, file_limit: int | None = None
) -> AsyncIterator[Run]:
    """Start `python -m regionwatch ARGS`; killed at the end of the block if still running."""
    stderr = tmp_path / f"stderr-{secrets.token_hex(4)}.log"
    command = [sys.executable, "-m", "regionwatch", *args]
    if file_limit is not None:
        command = [sys.executable, "-c", _LIMITED.format(limit=file_limit), *args]
    with stderr.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, **(env or {})},
        )
    try:
        yield Run(process, stderr)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def run_cli(
    *args: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    """Run `python -m regionwatch ARGS` to the end while this event loop keeps serving (the
    origins, the emulator, an app under test): its exit code, stdout and stderr. `env` is added
    to this process's environment after the names in `unset` are taken out of it."""
    base = {k: v for k, v in os.environ.items() if k not in unset}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regionwatch",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**base, **(env or {})},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def run_operator_cli(
    *args: str, token: str | None, user: str | None = None
) -> tuple[int, str, str]:
    """`regionwatch ARGS` as a person runs a command against a service: REGIONWATCH_TOKEN set
    to `token` (or unset), and USER and LOGNAME `user` when given."""
    env = {"REGIONWATCH_TOKEN": token} if token is not None else {}
    if user is not None:
        env |= {"USER": user, "LOGNAME": user}
    return await run_cli(*args, env=env, unset=("REGIONWATCH_TOKEN",))


async def answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def stopped_by(run: Run, sig: signal.Signals) -> tuple[int, float]:
    """Send `sig`; returns the exit status and how long the process took to exit."""
    started = time.monotonic()
    run.process.send_signal(sig)
    code = await run.wait(timeout=20)
    return code, time.monotonic() - started


async def start_lab(
    *args: str, tmp_path: Path | None = None, stderr: int = asyncio.subprocess.PIPE
) -> asyncio.subprocess.Process:
    """`regionwatch lab ARGS` as a process, its stdout piped (the banner), with its temporary
    folder under `tmp_path` when given. The caller stops it."""
    env = {**os.environ, "TMPDIR": str(tmp_path)} if tmp_path is not None else None
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regionwatch",
        "lab",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env=env,
    )


async def read_banner(process: asyncio.subprocess.Process) -> str:
    """The lab's banner, read from its stdout to its last line ("Stop with Ctrl-C.") within
    30 s."""
    assert process.stdout is not None
    banner = ""
    async with asyncio.timeout(30):
        while "Stop with Ctrl-C." not in banner:
            line = await process.stdout.readline()
            assert line, f"the lab exited early: {banner}"
            banner += line.decode()
    return banner


def lab_instances(banner: str) -> dict[str, tuple[str, str]]:
    """The lab's instances as its banner names them with `--vantage-points N` (N > 1): each
    vantage point's role and base URL, the decider (vp1) first."""
    found = re.findall(r"^  (vp\d+) +(decider|observer) +(http://\S+)  ", banner, re.MULTILINE)
    return {vantage: (role, url) for vantage, role, url in found}
