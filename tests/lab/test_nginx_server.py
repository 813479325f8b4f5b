"""The lab's Nginx runner: Debian's real Nginx in a prefix of its own, serving each site kind,
reporting a failed start with its error log, and leaving nothing behind."""

from __future__ import annotations

import os
import ssl

import httpx
import pytest

from lab.nginx_server import (
    NginxError,
    NginxServer,
    model_site,
    model_static_site,
    static_site,
)

HOSTNAME = "blog.example.com"


def _context(nginx: NginxServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(nginx.ca_file))


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_static_site_serves_the_page_and_leaves_nothing_behind() -> None:
    """In a `with` block the page answers over TLS with the issued certificate; after it, the
    master is gone and the temporary prefix removed."""
    with NginxServer(static_site(hostname=HOSTNAME)) as nginx:
        pid, prefix = nginx.pid, nginx.prefix
        with httpx.Client(verify=_context(nginx)) as client:
            page = client.get(
                f"https://{nginx.address}:{nginx.port}/",
                headers={"Host": HOSTNAME},
                extensions={"sni_hostname": HOSTNAME},
            )
        assert page.status_code == 200
        assert "<title>Bench Blog</title>" in page.text
    assert not _is_running(pid)
    assert not prefix.exists()


async def test_model_static_site_answers_as_the_model_deployment() -> None:
    """Under `async with`: the model's headers (the cache status following the bypass header),
    `/healthz` on HTTP, and the redirect to HTTPS for everything else on HTTP."""
    async with (
        NginxServer(model_static_site(hostname=HOSTNAME)) as nginx,
        httpx.AsyncClient(verify=_context(nginx)) as client,
    ):
        https = f"https://{nginx.address}:{nginx.port}"
        http = f"http://{nginx.address}:{nginx.http_port}"
        sni = {"sni_hostname": HOSTNAME}
        cached = await client.get(f"{https}/", headers={"Host": HOSTNAME}, extensions=sni)
        bypass = await client.get(
            f"{https}/", headers={"Host": HOSTNAME, "X-Regionwatch-Bypass": "1"}, extensions=sni
        )
        health = await client.get(f"{http}/healthz", headers={"Host": HOSTNAME})
        redirect = await client.get(f"{http}/about?x=1", headers={"Host": HOSTNAME})
    assert (cached.status_code, cached.headers["X-Cache-Status"]) == (200, "HIT")
    assert cached.headers["X-Release"] == "1.0.0"
    assert "Strict-Transport-Security" in cached.headers
    assert bypass.headers["X-Cache-Status"] == "BYPASS"
    assert health.json() == {"service": "ok"}
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == f"https://{HOSTNAME}/about?x=1"


async def test_a_configuration_nginx_rejects_fails_the_start_with_its_error_log() -> None:
    """A start that Nginx refuses raises NginxError carrying Nginx's reason, and still removes
    the prefix."""
    nginx = NginxServer(model_site("127.0.0.1:9", cache_valid="forever"))
    with pytest.raises(NginxError, match=r"exited at start.*forever"):
        await nginx.astart()
    assert not nginx.prefix.exists()
