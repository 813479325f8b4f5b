"""Loopback addresses for lab servers: one per region where the system allows it."""

from __future__ import annotations

import functools
import socket

__all__ = ["loopback_address", "vantage_address"]


@functools.cache
def _extra_loopback_bindable() -> bool:
    # Linux routes all of 127.0.0.0/8 to lo; macOS and BSDs only configure 127.0.0.1 by default.
    # Checked once: the answer is a property of the host, not of the moment.
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.2", 0))
    except OSError:
        return False
    return True


def loopback_address(index: int) -> str:
    """`127.0.0.{index + 2}` when such addresses can be bound here, else `127.0.0.1`.

    On the fallback every server shares 127.0.0.1 and must be told apart by port.
    """
    if not 0 <= index <= 252:
        raise ValueError(f"loopback index must be in 0..252, got {index}")
    return f"127.0.0.{index + 2}" if _extra_loopback_bindable() else "127.0.0.1"


def vantage_address(index: int) -> str | None:
    """`127.0.1.{index + 1}`, the address the lab's vantage point `index` probes from, when
    such addresses can be bound here; else None (probes leave from the system's choice, and
    a path cannot be told from another by its source)."""
    if not 0 <= index <= 253:
        raise ValueError(f"vantage index must be in 0..253, got {index}")
    return f"127.0.1.{index + 1}" if _extra_loopback_bindable() else None
