"""`python -m lab.trafficmanager`: the emulator on its own, with the lab's profile seeded.

Prints what a client needs (base URL, tenant, client id and secret, subscription, CA file, DNS
port) and runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from lab.trafficmanager.server import TrafficManagerEmulator


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.trafficmanager", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (127.0.0.0/8)")
    parser.add_argument("--dns-geography", default=None, help="where queries without ECS come from")
    parser.add_argument(
        "--probe-interval", type=float, default=None, help="probe in the background every N s"
    )
    parser.add_argument("--token-lifetime", type=int, default=3600, help="expires_in of tokens")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    emulator = TrafficManagerEmulator(
        host=args.host,
        dns_geography=args.dns_geography,
        probe_interval=args.probe_interval,
        token_lifetime=args.token_lifetime,
    )
    async with emulator:
        profile = emulator.seed_lab_profile()
        lines = {
            "base_url": emulator.base_url,
            "tenant_id": emulator.tenant_id,
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "reader_client_id": emulator.reader.client_id,
            "reader_client_secret": emulator.reader.secret,
            "subscription_id": emulator.subscription_id,
            "resource_group": emulator.resource_group,
            "profile": profile.name,
            "ca_file": str(emulator.ca_file),
            "dns": f"{emulator.host}:{emulator.dns_port} (udp+tcp) for {profile.fqdn}",
        }
        for key, value in lines.items():
            print(f"{key}: {value}")
        print("ready (Ctrl-C to stop)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if not args.host.startswith("127."):
        print(f"refusing to listen on {args.host}: loopback only", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
