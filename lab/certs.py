"""The lab's certificate authority: good, wrong, expired, untrusted and expiring server certificates.

Regions bake their certificate into the Nginx image, so a bad deploy can ship any of these to one
region (docs/architecture.md, "Facts of that setup"); the lab reproduces each on demand.
"""

from __future__ import annotations

import enum
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

__all__ = ["WRONG_NAME", "CertKind", "LabCA"]

# A reserved TLD (RFC 2606), so the wrong name can never be someone's real site.
WRONG_NAME = "wrong-name.invalid"


class CertKind(enum.StrEnum):
    GOOD = "good"  # the hostname, signed by the lab CA, valid for about a year
    WRONG_NAME = "wrong-name"  # valid and trusted, but for WRONG_NAME
    EXPIRED = "expired"  # the hostname, lab CA, notAfter yesterday
    UNTRUSTED = "untrusted"  # the hostname, signed by a CA nobody trusts
    EXPIRING = "expiring"  # the hostname, lab CA, expires in `days` days


class LabCA:
    """The CA clients of the lab trust, plus an untrusted one for the `untrusted` kind.

    Server contexts are cached per (hostname, kind, days): issuing a certificate costs a key
    generation, and a context is handed to every TLS handshake of an origin.
    """

    def __init__(self, authority: trustme.CA | None = None) -> None:
        # `authority`: the same CA in another process (its certificate and key passed along),
        # so servers started apart are trusted by one CA file.
        self._ca = authority or trustme.CA(organization_name="regionwatch lab CA")
        self._untrusted = trustme.CA(organization_name="regionwatch untrusted CA")
        self._contexts: dict[tuple[str, CertKind, int], ssl.SSLContext] = {}

    @property
    def authority(self) -> trustme.CA:
        """The trusted CA itself, for the lab's other TLS servers (Traffic Manager, DoT, DoH)."""
        return self._ca

    def cert_pem_bytes(self) -> bytes:
        """The PEM bundle clients trust (the lab CA only)."""
        pem: bytes = self._ca.cert_pem.bytes()
        return pem

    def write_ca_pem(self, path: Path | str) -> Path:
        path = Path(path)
        path.write_bytes(self.cert_pem_bytes())
        return path

    def client_context(self) -> ssl.SSLContext:
        """A default client context (hostname and chain verified) that trusts the lab CA."""
        ctx = ssl.create_default_context()
        self._ca.configure_trust(ctx)
        return ctx

    def server_context(self, hostname: str, kind: CertKind, *, days: int = 5) -> ssl.SSLContext:
        """A server context presenting a certificate of `kind` for `hostname`.

        `days` only matters for EXPIRING (days until notAfter).
        """
        kind = CertKind(kind)
        key = (hostname, kind, days if kind is CertKind.EXPIRING else 0)
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = self._issue(hostname, kind, days)
            self._contexts[key] = ctx
        return ctx

    def _issue(self, hostname: str, kind: CertKind, days: int) -> ssl.SSLContext:
        now = datetime.now(UTC)
        # Back-dated a day so that a client whose clock is slightly behind still accepts it.
        not_before = now - timedelta(days=1)
        ca, name, not_after = self._ca, hostname, now + timedelta(days=365)
        if kind is CertKind.WRONG_NAME:
            name = WRONG_NAME
        elif kind is CertKind.EXPIRED:
            not_before, not_after = now - timedelta(days=30), now - timedelta(days=1)
        elif kind is CertKind.UNTRUSTED:
            ca = self._untrusted
        elif kind is CertKind.EXPIRING:
            if days < 1:
                raise ValueError(f"days must be at least 1, got {days}")
            not_after = now + timedelta(days=days)
        leaf = ca.issue_cert(name, not_before=not_before, not_after=not_after)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # Nginx in the model deployment speaks HTTP/1.1 only (no `http2` on its listen line).
        ctx.set_alpn_protocols(["http/1.1"])
        leaf.configure_cert(ctx)
        return ctx
