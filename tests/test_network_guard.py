"""The suite's loopback guard really refuses traffic that would leave the machine."""

from __future__ import annotations

import socket

import pytest


def test_a_connection_to_a_public_address_is_refused(loopback_only: list[str]) -> None:
    """connect() to a public literal address never leaves; the attempt is recorded."""
    with socket.socket() as sock, pytest.raises(PermissionError, match="not loopback"):
        sock.connect(("192.0.2.1", 443))
    assert loopback_only == ["192.0.2.1"]
    loopback_only.clear()  # the guard's own check at teardown would fail the test otherwise


def test_a_datagram_to_a_public_address_is_refused(loopback_only: list[str]) -> None:
    """sendto() of a DNS query to a public resolver is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(PermissionError):
        sock.sendto(b"x", ("198.51.100.53", 53))
    loopback_only.clear()


def test_loopback_is_allowed() -> None:
    """127.0.0.0/8 stays reachable: a listener on 127.0.0.5 accepts."""
    with socket.create_server(("127.0.0.5", 0)) as server, socket.socket() as client:
        client.connect(server.getsockname())
