"""TLS for the lab resolvers' DoT and DoH listeners.

The certificate names `DEFAULT_TLS_NAME` and the listening address (an IP SAN), so a client
verifies it either way: DoT with `server_hostname="dns.lab.example"` (or "127.0.0.1"), DoH at
`https://127.0.0.1:PORT/dns-query`, both trusting the CA that issued it.
"""

from __future__ import annotations

import ssl
from typing import Any

__all__ = ["DEFAULT_TLS_NAME", "client_context", "server_context"]

# A reserved TLD (RFC 6761): the name can never be someone's real resolver.
DEFAULT_TLS_NAME = "dns.lab.example"


def server_context(
    ca: Any, name: str = DEFAULT_TLS_NAME, *, address: str = "127.0.0.1"
) -> ssl.SSLContext:
    """A server context with a certificate from `ca` (a `trustme.CA`) for `name`, `address`
    and `localhost`, offering ALPN `dot` (RFC 7858 §3.2) and `http/1.1` (DoH)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.set_alpn_protocols(["dot", "http/1.1"])
    ca.issue_cert(name, address, "localhost").configure_cert(context)
    return context


def client_context(ca: Any) -> ssl.SSLContext:
    """A client context trusting `ca` (a `trustme.CA`), hostname checking on."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context
