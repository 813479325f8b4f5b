"""The network-namespace harness (tests/netns.py): partitions drop packets until healed,
everything is torn down whatever happens, leftovers of dead sessions are swept, and the
network guard lets through only the addresses of a network that is up."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from unittest import mock

import netns
import pytest
from netns import Network, unavailable

_SERVE = (
    "import socket, sys; s = socket.create_server((sys.argv[1], 9000)); print('up', flush=True)\n"
    "while True: s.accept()[0].close()"
)
_CONNECT = (
    "import socket, sys\n"
    "try: socket.create_connection((sys.argv[1], 9000), timeout=0.5); print('connected')\n"
    "except TimeoutError: print('timed out')\n"
    "except OSError as e: print(e.strerror)"
)


@pytest.fixture(scope="module")
def namespaces() -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)


def _listed() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


async def _connect(net: Network, source: str, target: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *("ip", "netns", "exec", net.nodes[source].namespace, sys.executable, "-c", _CONNECT),
        net.nodes[target].address,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=10)
    return out.decode().strip()


async def test_a_partition_drops_packets_both_ways_until_healed(namespaces: None) -> None:
    """Between partitioned nodes connections time out (dropped, not refused) in both
    directions, a third node still connects, and after `heal` they connect again."""
    async with Network() as net:
        for name, host in (("a", 1), ("b", 2), ("c", 3)):
            await net.add(name, host)
        servers = []
        for name in ("a", "b"):
            server = await asyncio.create_subprocess_exec(
                *("ip", "netns", "exec", net.nodes[name].namespace, sys.executable, "-c", _SERVE),
                net.nodes[name].address,
                stdout=asyncio.subprocess.PIPE,
            )
            assert server.stdout is not None
            assert await asyncio.wait_for(server.stdout.readline(), timeout=10) == b"up\n"
            servers.append(server)
        try:
            assert await _connect(net, "a", "b") == "connected"
            await net.partition("a", "b")
            assert await _connect(net, "a", "b") == "timed out"
            assert await _connect(net, "b", "a") == "timed out"
            assert await _connect(net, "c", "b") == "connected"
            await net.heal("a", "b")
            assert await _connect(net, "a", "b") == "connected"
        finally:
            for server in servers:
                server.kill()
                await server.wait()


async def test_an_isolated_node_is_reached_by_nobody_until_restored(namespaces: None) -> None:
    """`isolate` blackholes the hub's route to a node: every other node times out; `restore`
    brings it back."""
    async with Network() as net:
        for name, host in (("a", 1), ("b", 2)):
            await net.add(name, host)
        server = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", net.nodes["b"].namespace, sys.executable, "-c", _SERVE),
            net.nodes["b"].address,
            stdout=asyncio.subprocess.PIPE,
        )
        assert server.stdout is not None
        assert await asyncio.wait_for(server.stdout.readline(), timeout=10) == b"up\n"
        try:
            await net.isolate("b")
            assert await _connect(net, "a", "b") == "timed out"
            await net.heal_all()
            assert await _connect(net, "a", "b") == "connected"
        finally:
            server.kill()
            await server.wait()


async def test_everything_is_torn_down_when_the_block_fails(namespaces: None) -> None:
    """A failure inside the block still deletes every namespace, hosts file and link, and
    the guard no longer lets the network's addresses through."""
    with pytest.raises(RuntimeError, match="the test failed"):
        async with Network() as net:
            node = await net.add("a", 1)
            assert node.namespace in _listed()
            assert netns.reaches(node.address)
            raise RuntimeError("the test failed")
    assert node.namespace not in _listed() and net.hub not in _listed()
    assert not (Path("/etc/netns") / node.namespace).exists()
    assert not netns.reaches(node.address)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"rw{os.getpid()}h" not in links


async def test_leftovers_of_a_dead_session_are_swept_and_a_live_sessions_kept(
    namespaces: None,
) -> None:
    """`remove_leftovers` deletes `rw-<pid>-` namespaces whose pid is gone and keeps those of
    a session still running (this one)."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead, live = f"rw-{finished.stdout.strip()}-left", f"{netns.PREFIX}kept"
    for name in (dead, live):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        removed = netns.remove_leftovers()
        assert dead in removed and dead not in _listed()
        assert live in _listed()
    finally:
        for name in (dead, live):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_without_root_the_reason_says_root_is_needed() -> None:
    """Where the tests do not run as root, namespaces are skipped with that reason (no socket
    can make a process unprivileged: the uid is patched)."""
    with mock.patch.object(os, "geteuid", return_value=1000):
        assert unavailable() == "network namespaces need root (ip netns add)"


def test_the_guard_refuses_the_test_range_outside_a_live_network(
    loopback_only: list[str],
) -> None:
    """An address of 10.213.0.0/16 that no network of this session holds is refused like any
    other."""
    with socket.socket() as sock, pytest.raises(PermissionError, match="not loopback"):
        sock.connect(("10.213.250.1", 443))
    assert loopback_only == ["10.213.250.1"]
    loopback_only.clear()
