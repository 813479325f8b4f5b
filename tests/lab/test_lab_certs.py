"""The lab CA: the bundle clients trust, and server contexts issued once per kind."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from lab.certs import CertKind, LabCA
from lab.origin import RegionalOrigin

HOSTNAME = "blog.example.com"


async def test_the_written_bundle_is_what_a_client_needs_to_trust_the_origin(
    lab_ca: LabCA, tmp_path: Path
) -> None:
    """A client configured only with write_ca_pem()'s file verifies an origin's certificate."""
    path = lab_ca.write_ca_pem(tmp_path / "ca.pem")
    assert path.read_bytes() == lab_ca.cert_pem_bytes()
    assert lab_ca.cert_pem_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    context = ssl.create_default_context(cafile=str(path))
    async with RegionalOrigin(region="centralus", hostname=HOSTNAME, ca=lab_ca) as origin:
        _, writer = await asyncio.open_connection(
            origin.address, origin.https_port, ssl=context, server_hostname=HOSTNAME
        )
        writer.close()
        await writer.wait_closed()


def test_server_contexts_are_issued_once_per_hostname_kind_and_days(lab_ca: LabCA) -> None:
    """Issuing costs a key generation, so contexts are cached; `days` only keys EXPIRING."""
    good = lab_ca.server_context(HOSTNAME, CertKind.GOOD)
    assert lab_ca.server_context(HOSTNAME, CertKind.GOOD, days=9) is good
    assert lab_ca.server_context(HOSTNAME, "good") is good  # type: ignore[arg-type]
    assert lab_ca.server_context("other.example.com", CertKind.GOOD) is not good
    soon = lab_ca.server_context(HOSTNAME, CertKind.EXPIRING, days=5)
    assert lab_ca.server_context(HOSTNAME, CertKind.EXPIRING) is soon
    assert lab_ca.server_context(HOSTNAME, CertKind.EXPIRING, days=6) is not soon
    with pytest.raises(ValueError, match="days must be at least 1, got 0"):
        lab_ca.server_context(HOSTNAME, CertKind.EXPIRING, days=0)


def test_client_context_verifies_names_and_chains(lab_ca: LabCA) -> None:
    """The test client is strict: hostname checked, certificate required."""
    context = lab_ca.client_context()
    assert context.check_hostname
    assert context.verify_mode is ssl.CERT_REQUIRED
