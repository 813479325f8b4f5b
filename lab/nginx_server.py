"""Debian's real Nginx, run as a child process with the model deployment's configuration.

Used by the end-to-end tests and the benchmarks, so the probe is proven against the server
it watches in production, not only against the lab's Python origin.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["NginxError", "NginxServer", "NginxSite", "free_port", "nginx_binary"]

_STARTUP_DEADLINE = 10.0


class NginxError(RuntimeError):
    """Nginx is missing, or would not start (the message carries its error log)."""


@dataclass(frozen=True, slots=True)
class NginxSite:
    hostname: str
    address: str
    https_port: int
    http_port: int
    upstream: str  # host:port of the Ghost stand-in
    cert_file: Path
    key_file: Path
    cache_valid: str = "7d"  # the model's value; tests shorten it to see STALE quickly


def nginx_binary() -> str:
    """The nginx executable, or NginxError saying how to install it."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if found is None:
        raise NginxError("nginx is not installed: `make test` installs it (apt-get install nginx)")
    return found


def free_port(address: str = "127.0.0.1") -> int:
    """A port that was free on `address` a moment ago (Nginx must be given a number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def render_config(site: NginxSite, prefix: Path) -> str:
    template = resources.files("lab").joinpath("templates/nginx-model.conf").read_text()
    # As root, workers would switch to `nobody` and lose access to the private prefix.
    user_line = "user root;" if os.geteuid() == 0 else ""
    return string.Template(template).substitute(
        user_line=user_line,
        prefix=prefix,
        upstream=site.upstream,
        address=site.address,
        hostname=site.hostname,
        http_port=site.http_port,
        https_port=site.https_port,
        cert_file=site.cert_file,
        key_file=site.key_file,
        cache_valid=site.cache_valid,
    )


class NginxServer:
    """One Nginx master (plus one worker) in the foreground, in its own prefix directory."""

    def __init__(self, site: NginxSite, prefix: Path) -> None:
        self.site = site
        self.prefix = prefix
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = nginx_binary()
        for sub in ("tmp", "cache"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(render_config(self.site, self.prefix), encoding="utf-8")
        self._process = await asyncio.create_subprocess_exec(
            binary,
            "-p",
            str(self.prefix),
            "-c",
            str(conf),
            "-g",
            "daemon off;",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await self._wait_listening()
        except BaseException:
            await self.stop()
            raise

    async def _wait_listening(self) -> None:
        assert self._process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STARTUP_DEADLINE
        while loop.time() < deadline:
            if self._process.returncode is not None:
                raise NginxError(f"nginx exited at start:\n{self.error_log()}")
            try:
                _, writer = await asyncio.open_connection(self.site.address, self.site.https_port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise NginxError(f"nginx did not listen within {_STARTUP_DEADLINE:g}s:\n{self.error_log()}")

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else "(no error log)"

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)  # fast shutdown; the master stops its workers
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def __aenter__(self) -> NginxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
