"""The lab's servers as processes of their own, to run inside a network namespace
(tests/netns.py): `python -m netns_serve origin ...` serves one region's HTTPS origin, and
`python -m netns_serve trafficmanager ...` the Traffic Manager emulator, each until SIGTERM or
the end of its standard input.

`origin` signs its certificate with the lab CA handed over as files (so the test's one CA file
is trusted), prints `ready` once both listeners are bound, and reads commands from its standard
input, one a line: `inject FAULT [NAME=VALUE ...]` and `heal`, each answered `ok` or with the
error on one line (the fault panel's vocabulary, lab/faults.py).

`trafficmanager` listens on the namespace's own loopback, seeds the lab's profile with the given
targets and pins both endpoints Online: Traffic Manager's probes come from Azure's own
locations, not from any vantage point of the test, so a path cut between regionwatch and a
region never reaches them. It prints one JSON line: regionwatch's `traffic_manager` section and
the environment that signs in to it; then `reset` on its standard input seeds the profile
afresh (every endpoint Enabled and Online again), answered `ok`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import trustme

from lab.certs import LabCA
from lab.origin import RegionalOrigin
from lab.trafficmanager import TrafficManagerEmulator


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m netns_serve", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    origin = commands.add_parser("origin", help="one region's HTTPS origin")
    origin.add_argument("--region", required=True)
    origin.add_argument("--hostname", required=True)
    origin.add_argument("--address", required=True)
    origin.add_argument("--https-port", type=int, default=443)
    origin.add_argument("--http-port", type=int, default=80)
    origin.add_argument("--ca-cert", type=Path, required=True)
    origin.add_argument("--ca-key", type=Path, required=True)
    tm = commands.add_parser("trafficmanager", help="the Traffic Manager emulator")
    tm.add_argument("--target", action="append", default=[], help="ENDPOINT=ADDRESS")
    tm.add_argument("--workdir", type=Path, required=True)
    return parser.parse_args(argv)


async def _answer_commands(answer: Callable[[str], str]) -> None:
    """Answer each line of standard input with `answer(line)` on one line of standard output,
    until the input ends (the test that started us is gone), SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            reading = asyncio.ensure_future(commands.readline())
            await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():
                reading.cancel()
                return
            line = reading.result().decode()
            if not line:
                return
            print(answer(line), flush=True)
    finally:
        stopped.cancel()


def _fault_command(origin: RegionalOrigin, line: str) -> str:
    words = line.split()
    try:
        if words == ["heal"]:
            origin.heal()
        elif words[:1] == ["inject"] and len(words) >= 2:
            params = dict(word.split("=", 1) for word in words[2:])
            origin.inject(words[1], **params)
        else:
            return f"error: expected 'inject FAULT [NAME=VALUE ...]' or 'heal', got {line!r}"
    except ValueError as e:
        return f"error: {e}"
    return "ok"


async def _origin(args: argparse.Namespace) -> None:
    authority = trustme.CA.from_pem(args.ca_cert.read_bytes(), args.ca_key.read_bytes())
    origin = RegionalOrigin(
        region=args.region,
        hostname=args.hostname,
        ca=LabCA(authority),
        address=args.address,
        https_port=args.https_port,
        http_port=args.http_port,
    )
    async with origin:
        print("ready", flush=True)
        await _answer_commands(lambda line: _fault_command(origin, line))


def _seed(emulator: TrafficManagerEmulator, targets: dict[str, str]) -> None:
    """The lab's profile afresh: every endpoint Enabled, and Online in Traffic Manager's eyes."""
    emulator.seed_lab_profile(targets=targets)
    for endpoint in targets:
        emulator.force_monitor_status(endpoint, "Online")


def _reset_command(emulator: TrafficManagerEmulator, targets: dict[str, str], line: str) -> str:
    if line.split() != ["reset"]:
        return f"error: expected 'reset', got {line!r}"
    _seed(emulator, targets)
    return "ok"


async def _trafficmanager(args: argparse.Namespace) -> None:
    targets = dict(target.split("=", 1) for target in args.target)
    async with TrafficManagerEmulator(workdir=args.workdir) as emulator:
        _seed(emulator, targets)
        found = {"config": emulator.config_section(), "environment": emulator.environment()}
        print(json.dumps(found), flush=True)
        await _answer_commands(lambda line: _reset_command(emulator, targets, line))


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    serve = _origin if args.command == "origin" else _trafficmanager
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
