"""A DNS round of 4 resolvers × 4 vantage points against the slowest single query.

`.venv/bin/python bench/dns_round.py` (also run by `make bench`; `--help` for its options).
Target: the round takes at most 1.2× the slowest single query, i.e. the queries really run
concurrently.

Two set-ups, servers in a child process on the other core, the check in this one:
- `responder`: four small UDP responders that answer like a resolver across a network (the
  CNAME chain, an A record by client subnet, ECS echoed) after a fixed delay (`--rtt`, 20 ms).
  What is measured is the check's own concurrency, as with real resolvers, whose answers take
  network time, not CPU.
- `lab`: the lab's Python resolvers forwarding to the Traffic Manager emulator's DNS. Every
  query costs both servers CPU on one core, so this measures the lab's throughput as much as
  the check; reported for reference.

Prints a Markdown section and writes it into docs/benchmarks.md between markers.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import ssl
import statistics
import sys
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import trustme

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.resolvers import LabResolver  # noqa: E402
from lab.trafficmanager import TrafficManagerEmulator  # noqa: E402
from monitor.config import parse_config  # noqa: E402
from monitor.dnsround import DnsRound  # noqa: E402
from monitor.probes.dns import DnsProbe  # noqa: E402

RESOLVERS = {
    "eu": "81.2.69.0/24",
    "us": "8.8.8.0/24",
    "asia": "133.0.0.0/24",
    "eu2": "81.2.69.0/24",
}
VANTAGE = {
    "europe": "81.2.69.0/24",
    "america": "8.8.8.0/24",
    "asia": "133.0.0.0/24",
    "other": "192.0.2.0/24",
}
ROUNDS = 60
SINGLE_REPEATS = 30
MARK_BEGIN = "<!-- bench/dns_round.py: begin -->"
MARK_END = "<!-- bench/dns_round.py: end -->"


class Responder(asyncio.DatagramProtocol):
    """Answers the site's name like a resolver behind `rtt` seconds of network.

    Answers are encoded once per (type, subnet) and only the query id is patched in, so the
    responder spends microseconds per query, as a resolver written in C would: the round
    measures the check, not this stand-in.
    """

    def __init__(self, rtt: float) -> None:
        self.rtt = rtt
        self.transport: Any = None
        self._answers: dict[bytes, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        key = data[2:]  # everything but the id: type, name, EDNS and ECS options
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = _encode_answer(data)
        wire = data[:2] + answer[2:]
        asyncio.get_running_loop().call_later(self.rtt, self.transport.sendto, wire, addr)


def _encode_answer(query_wire: bytes) -> bytes:
    import dns.edns
    import dns.message
    import dns.rdatatype
    import dns.rrset

    query = dns.message.from_wire(query_wire)
    response = dns.message.make_response(query)
    question = query.question[0]
    response.answer.append(
        dns.rrset.from_text(question.name, 300, "IN", "CNAME", "blog-tm.trafficmanager.net.")
    )
    subnet = next((o for o in query.options if isinstance(o, dns.edns.ECSOption)), None)
    if question.rdtype == dns.rdatatype.A:
        europe = subnet is not None and subnet.address.startswith("81.")
        address = "127.0.0.2" if europe else "127.0.0.3"
        response.answer.append(
            dns.rrset.from_text("blog-tm.trafficmanager.net.", 60, "IN", "A", address)
        )
    if subnet is not None:
        echo = dns.edns.ECSOption(subnet.address, subnet.srclen, subnet.srclen)
        response.use_edns(0, options=[echo])
    wire: bytes = response.to_wire()
    return wire


def serve_responders(pipe: Connection, rtt: float) -> None:
    """Child process: four responders until the parent says stop."""
    os.sched_setaffinity(0, {1 % (os.cpu_count() or 1)})

    async def respond() -> None:
        loop = asyncio.get_running_loop()
        ports = {}
        transports = []
        for name in RESOLVERS:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: Responder(rtt), local_addr=("127.0.0.1", 0)
            )
            transports.append(transport)
            ports[name] = transport.get_extra_info("sockname")[1]
        pipe.send(ports)
        await loop.run_in_executor(None, pipe.recv)
        for transport in transports:
            transport.close()

    asyncio.run(respond())


def serve_lab(pipe: Connection, ca_pem: bytes, ca_key: bytes) -> None:
    """Child process: the emulator and four lab resolvers until the parent says stop."""
    os.sched_setaffinity(0, {1 % (os.cpu_count() or 1)})

    async def lab() -> None:
        ca = trustme.CA.from_pem(ca_pem, ca_key)
        async with TrafficManagerEmulator(ca=ca) as tm:
            tm.seed_lab_profile(targets={"westeurope": "127.0.0.2", "centralus": "127.0.0.3"})
            resolvers = [
                LabResolver(name, subnet=subnet, upstream=("127.0.0.1", tm.dns_port))
                for name, subnet in RESOLVERS.items()
            ]
            for r in resolvers:
                await r.start()
            pipe.send({r.name: r.port for r in resolvers})
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
            for r in resolvers:
                await r.stop()

    asyncio.run(lab())


def config(ports: dict[str, int]) -> Any:
    return parse_config(
        {
            "site": {"hostname": "blog.example.com"},
            "regions": {
                "westeurope": {"address": "127.0.0.2"},
                "centralus": {"address": "127.0.0.3"},
            },
            "checks": {
                "dns": {
                    "timeout": "2s",
                    "resolvers": [
                        {"name": n, "address": "127.0.0.1", "port": p} for n, p in ports.items()
                    ],
                    "vantage_points": [{"name": n, "client_subnet": s} for n, s in VANTAGE.items()],
                }
            },
        }
    )


async def measure(ports: dict[str, int]) -> dict[str, Any]:
    cfg = config(ports)
    context = ssl.create_default_context()
    dns = DnsRound(cfg, context)
    singles: dict[str, float] = {}
    try:
        for _ in range(5):  # warm-up
            await dns.run(None)
        assert cfg.checks.dns is not None
        for resolver in cfg.checks.dns.resolvers:
            for vantage in cfg.checks.dns.vantage_points:
                probe = DnsProbe(
                    "blog.example.com", resolver, vantage, timeout=2.0, ssl_context=context
                )
                times = []
                for _ in range(SINGLE_REPEATS):
                    start = time.perf_counter()
                    answer = await probe.probe()
                    times.append(time.perf_counter() - start)
                    assert answer.failure is None, answer.reason
                singles[f"{resolver.name} × {vantage.name}"] = statistics.median(times)
        rounds = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            findings = await dns.run(None)
            rounds.append(time.perf_counter() - start)
            assert all(f.answer.failure is None for f in findings)
    finally:
        await dns.close()
    slowest_pair = max(singles, key=lambda k: singles[k])
    return {
        "queries_per_round": len(findings) * 2,
        "pairs": len(findings),
        "round_median": statistics.median(rounds),
        "round_p90": statistics.quantiles(rounds, n=10)[-1],
        "slowest_single": singles[slowest_pair],
        "slowest_pair": slowest_pair,
        "fastest_single": min(singles.values()),
    }


def rows(name: str, r: dict[str, Any]) -> list[str]:
    ratio = r["round_median"] / r["slowest_single"]
    return [
        f"| {name} | {r['round_median'] * 1000:.2f} | {r['round_p90'] * 1000:.2f} "
        f"| {r['slowest_single'] * 1000:.2f} ({r['slowest_pair']}) "
        f"| {r['fastest_single'] * 1000:.2f} | {ratio:.2f} |"
    ]


def report(results: dict[str, dict[str, Any]], rtt: float) -> str:
    main_ratio = results["responder"]["round_median"] / results["responder"]["slowest_single"]
    verdict = "met" if main_ratio <= 1.2 else "missed"
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    r = results["responder"]
    lines = [
        MARK_BEGIN,
        "## DNS round",
        "",
        f"Command: `.venv/bin/python bench/dns_round.py` (`make bench`), {now}.",
        f"4 resolvers (UDP on loopback) × 4 vantage points (ECS), plus each resolver's plain "
        f"query: {r['pairs']} probes of A + AAAA, {r['queries_per_round']} queries per round, "
        "all at once. Servers in a child process pinned to CPU 1, the check in this process on "
        f"CPU 0. Round: median and p90 of {ROUNDS} rounds. Single query: for each resolver × "
        f"vantage point, the median of {SINGLE_REPEATS} runs of that one probe (A + AAAA) alone; "
        "the slowest of these is the reference.",
        f"`responder`: small UDP responders answering after {rtt * 1000:.0f} ms, like resolvers "
        "across a network (the target's measure). `lab`: the lab's Python resolvers forwarding "
        "every query to the Traffic Manager emulator's DNS, both on one core: their CPU, not the "
        "check, bounds that round.",
        "",
        "| servers | round median (ms) | round p90 (ms) | slowest single (ms) "
        "| fastest single (ms) | round / slowest |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, result in results.items():
        lines += rows(name, result)
    lines += [
        "",
        f"**Round / slowest single query with `responder`: {main_ratio:.2f} (target ≤ 1.2): "
        f"{verdict}.**",
        MARK_END,
    ]
    return "\n".join(lines)


def write(section: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text(encoding="utf-8")
    if MARK_BEGIN in text:
        before = text.split(MARK_BEGIN)[0]
        after = text.split(MARK_END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def run_setup(target: Any, args: tuple[Any, ...]) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=target, args=(child, *args), daemon=True
    )
    server.start()
    try:
        if not parent.poll(30):
            raise SystemExit("the DNS servers did not start")
        ports = parent.recv()
        os.sched_setaffinity(0, {0})
        return asyncio.run(measure(ports))
    finally:
        parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.kill()


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Measures on loopback for tens of seconds, then writes its section into "
        "docs/benchmarks.md (unless --no-write).",
    )
    parser.add_argument(
        "--rtt",
        type=float,
        default=20.0,
        metavar="MS",
        help="the responders' answer delay in milliseconds (default 20)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = _parse(argv)
    rtt = args.rtt / 1000
    ca = trustme.CA()
    results = {
        "responder": run_setup(serve_responders, (rtt,)),
        "lab": run_setup(serve_lab, (ca.cert_pem.bytes(), ca.private_key_pem.bytes())),
    }
    section = report(results, rtt)
    print(section)
    if not args.no_write:
        write(section)
        print("written to docs/benchmarks.md")


if __name__ == "__main__":
    main(sys.argv[1:])
