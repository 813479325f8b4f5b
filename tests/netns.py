"""Network namespaces for the tests: each vantage point and each region in a namespace of its
own, joined through a router namespace, so that a partition is a real dropped route.

The layout of one `Network` (all names start with `rw-<pid>-`, so a session's namespaces are
told apart from another's, and leftovers of a session that died are found by their pid):

    rw-<pid>-hub      the router: one veth to every node and one to this process's namespace,
                      forwarding between them; it answers as 10.213.N.254 on each link
    rw-<pid>-<node>   one per node: `lo` up, `eth0` with the node's address 10.213.N.k/32,
                      everything in 10.213.N.0/24 through the hub

The test process reaches every node through its own link to the hub (10.213.N.253), and the
suite's network guard lets exactly the live networks' addresses through (`reaches`): only
hosts inside namespaces these tests created. A partition is a blackhole in the hub, never a
refusal by a peer's address: `partition(a, b)` drops what the hub would forward between the two
(a rule sending their packets to a blackhole), so both sides see their packets vanish and
time out; `isolate(node)` replaces the hub's route to a node with a blackhole route, cutting
it off from everyone. Each node gets `/etc/netns/<namespace>/hosts` (what `ip netns exec`
mounts over `/etc/hosts`) naming every node, so a peer can be addressed by a one-label name.

Needs root and iproute2's `ip netns`; `unavailable()` says why when either is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from processes import Run

__all__ = [
    "PREFIX",
    "TEST_RANGE",
    "Network",
    "Node",
    "reaches",
    "remove_leftovers",
    "unavailable",
]

PREFIX = f"rw-{os.getpid()}-"
# Private addresses for the nodes only: they exist inside the namespaces a Network creates,
# and on this process's link to them while that Network is up.
TEST_RANGE = ipaddress.ip_network("10.213.0.0/16")
_HUB, _HOST = 254, 253
_NETNS_ETC = Path("/etc/netns")
_LEFTOVER = re.compile(r"^rw-(\d+)-")
_live: set[ipaddress.IPv4Network] = set()
_swept = False


def reaches(host: str) -> bool:
    """Whether `host` is an address inside a Network that is up now (the network guard's one
    exception to loopback)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _live)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)


def unavailable() -> str | None:
    """Why namespaces cannot be used here (a skip reason), or None when they can: root,
    iproute2's `ip`, and an `ip netns add` that works."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed (scripts/install-debs.sh installs it)"
    probe = f"{PREFIX}probe-{secrets.token_hex(3)}"
    added = _ip("netns", "add", probe)
    if added.returncode != 0:
        return f"ip netns add failed: {added.stderr.strip() or added.returncode}"
    _ip("netns", "del", probe)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> list[str]:
    """Delete the namespaces (and their hosts files) left by sessions that died without
    tearing down: those whose pid is gone. Another live session's are left alone. Returns
    the names removed."""
    listed = _ip("netns", "list").stdout.split()
    names = {n for n in listed if _LEFTOVER.match(n)}
    if _NETNS_ETC.is_dir():
        names |= {p.name for p in _NETNS_ETC.iterdir() if _LEFTOVER.match(p.name)}
    removed = []
    for name in sorted(names):
        match = _LEFTOVER.match(name)
        assert match is not None
        if _alive(int(match.group(1))):
            continue
        if name in listed:
            _ip("netns", "del", name)
        shutil.rmtree(_NETNS_ETC / name, ignore_errors=True)
        removed.append(name)
    return removed


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of TEST_RANGE that no route of this namespace, nor a live Network, uses."""
    routes = _ip("-4", "route", "show").stdout
    used: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set(_live)
    for line in routes.splitlines():
        with contextlib.suppress(ValueError):
            used.add(ipaddress.ip_network(line.split()[0], strict=False))
    subnets = list(TEST_RANGE.subnets(new_prefix=24))
    start = os.getpid() % len(subnets)
    for subnet in subnets[start:] + subnets[:start]:
        if not any(subnet.overlaps(u) for u in used):
            return subnet
    raise RuntimeError(f"no free /24 left in {TEST_RANGE}")


@dataclass(frozen=True)
class Node:
    """One namespace on the network: a vantage point or a region."""

    name: str
    namespace: str
    address: str


class Network:
    """Namespaces joined through a router namespace, with partitions on demand. Use as an
    async context manager: everything is torn down on the way out, whatever happened."""

    def __init__(self) -> None:
        self.subnet = _free_subnet()
        self.hub = f"{PREFIX}hub"
        self.nodes: dict[str, Node] = {}
        self._link = f"rw{os.getpid()}h"  # this namespace's end (at most 15 characters)
        self._created: list[str] = []
        self._cuts: set[tuple[str, str]] = set()
        self._isolated: set[str] = set()

    def _address(self, host: int) -> str:
        return str(self.subnet.network_address + host)

    async def _run(self, *args: str) -> str:
        """`ip ARGS`; raises with ip's own words when it fails."""
        process = await asyncio.create_subprocess_exec(
            "ip",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=10)
        if process.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {err.decode().strip()}")
        return out.decode()

    async def _in(self, namespace: str, *args: str) -> str:
        return await self._run("-n", namespace, *args)

    async def _add_namespace(self, name: str) -> None:
        await self._run("netns", "add", name)
        self._created.append(name)
        await self._in(name, "link", "set", "lo", "up")

    async def __aenter__(self) -> Network:
        global _swept
        if not _swept:
            _swept = True
            remove_leftovers()
        _live.add(self.subnet)
        try:
            await self._add_namespace(self.hub)
            await self._forward(self.hub)
            hub, host = self._address(_HUB), self._address(_HOST)
            await self._run(
                "link",
                "add",
                self._link,
                "type",
                "veth",
                "peer",
                "name",
                "uplink",
                "netns",
                self.hub,
            )
            await self._in(self.hub, "addr", "add", f"{hub}/32", "dev", "uplink")
            await self._in(self.hub, "link", "set", "uplink", "up")
            await self._in(self.hub, "route", "add", f"{host}/32", "dev", "uplink")
            await self._run("addr", "add", f"{host}/32", "dev", self._link)
            await self._run("link", "set", self._link, "up")
            await self._run("route", "add", f"{hub}/32", "dev", self._link)
            await self._run("route", "add", str(self.subnet), "via", hub, "dev", self._link)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _forward(self, namespace: str) -> None:
        # /proc/sys/net is the namespace of whoever opens it: written from inside the hub.
        process = await asyncio.create_subprocess_exec(
            "ip",
            "netns",
            "exec",
            namespace,
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/ip_forward",
        )
        if await asyncio.wait_for(process.wait(), timeout=10) != 0:
            raise RuntimeError(f"cannot turn forwarding on in {namespace}")

    async def add(self, name: str, host: int) -> Node:
        """A node `name` at 10.213.N.`host`, reachable from every other node and from here."""
        if not 1 <= host < _HOST or name in self.nodes:
            raise ValueError(f"node {name!r} at .{host}: taken or out of range")
        node = Node(name, f"{PREFIX}{name}", self._address(host))
        hub = self._address(_HUB)
        veth = f"v-{name}"[:15]
        await self._add_namespace(node.namespace)
        self.nodes[name] = node
        await self._in(self.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0")
        await self._in(self.hub, "link", "set", "eth0", "netns", node.namespace)
        await self._in(self.hub, "addr", "add", f"{hub}/32", "dev", veth)
        await self._in(self.hub, "link", "set", veth, "up")
        await self._in(self.hub, "route", "add", f"{node.address}/32", "dev", veth)
        await self._in(node.namespace, "addr", "add", f"{node.address}/32", "dev", "eth0")
        await self._in(node.namespace, "link", "set", "eth0", "up")
        await self._in(node.namespace, "route", "add", f"{hub}/32", "dev", "eth0")
        await self._in(node.namespace, "route", "add", str(self.subnet), "via", hub, "dev", "eth0")
        self._write_hosts()
        return node

    def _write_hosts(self) -> None:
        lines = ["127.0.0.1 localhost", "::1 localhost"]
        lines += [f"{n.address} {n.name}" for n in self.nodes.values()]
        for node in self.nodes.values():
            folder = _NETNS_ETC / node.namespace
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "hosts").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _rule(self, a: Node, b: Node) -> list[str]:
        return ["rule", "add", "from", a.address, "to", b.address, "blackhole"]

    async def partition(self, a: str, b: str) -> None:
        """Drop everything between nodes `a` and `b`, both ways, in the hub: connections
        between them time out; each still reaches everyone else."""
        first, second = self.nodes[a], self.nodes[b]
        await self._in(self.hub, *self._rule(first, second))
        await self._in(self.hub, *self._rule(second, first))
        self._cuts.add((a, b))

    async def heal(self, a: str, b: str) -> None:
        """Undo `partition(a, b)`."""
        first, second = self.nodes[a], self.nodes[b]
        for x, y in ((first, second), (second, first)):
            rule = self._rule(x, y)
            rule[1] = "del"
            await self._in(self.hub, *rule)
        self._cuts.discard((a, b))

    async def isolate(self, name: str) -> None:
        """Replace the hub's route to node `name` with a blackhole: nobody reaches it."""
        node = self.nodes[name]
        await self._in(self.hub, "route", "replace", "blackhole", f"{node.address}/32")
        self._isolated.add(name)

    async def restore(self, name: str) -> None:
        """Undo `isolate(name)`."""
        node = self.nodes[name]
        await self._in(self.hub, "route", "replace", f"{node.address}/32", "dev", f"v-{name}"[:15])
        self._isolated.discard(name)

    async def heal_all(self) -> None:
        """Undo every partition and isolation still in place: every node reaches every other."""
        for a, b in sorted(self._cuts):
            await self.heal(a, b)
        for name in sorted(self._isolated):
            await self.restore(name)

    async def hub_rules(self) -> str:
        """The hub's routing rules as `ip rule` lists them (to show what a partition is)."""
        return await self._in(self.hub, "rule", "show")

    @asynccontextmanager
    async def process(
        self,
        name: str,
        *argv: str,
        log: Path,
        env: Mapping[str, str] | None = None,
        stdin: bool = False,
        stdout: bool = False,
    ) -> AsyncIterator[Run]:
        """`argv` running inside node `name`'s namespace (`ip netns exec` becomes it, so the
        pid is the command's own), stderr kept in `log`; killed at the end of the block if
        still running."""
        command = ["ip", "netns", "exec", self.nodes[name].namespace, *argv]
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL,
                stderr=sink,
                env={**os.environ, **(env or {})},
            )
        try:
            yield Run(process, log)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    async def close(self) -> None:
        """Delete every namespace this Network created (their veths, this namespace's end of
        the hub's link, routes and rules go with them) and the hosts files. Idempotent."""
        for namespace in reversed(self._created):
            with contextlib.suppress(RuntimeError):
                await self._run("netns", "del", namespace)
            shutil.rmtree(_NETNS_ETC / namespace, ignore_errors=True)
        self._created.clear()
        with contextlib.suppress(OSError):
            _NETNS_ETC.rmdir()  # only when empty: ip itself keeps files there for others
        # Deleting the hub took the link's other end with it; only an early failure leaves it.
        with contextlib.suppress(RuntimeError):
            await self._run("link", "del", self._link)
        _live.discard(self.subnet)
