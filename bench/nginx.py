"""Debian's Nginx as a benchmark target: TLS on 127.0.0.1 for one hostname, a static page.

`BenchNginx` writes a self-contained prefix (configuration, certificate, page, pid file, logs
and temp paths) into a temporary directory, runs `/usr/sbin/nginx` in the foreground as a child
process, and stops it and removes the prefix on exit, also when the benchmark fails.
The certificate is issued by a throwaway `trustme.CA` (ECDSA P-256 by default); its CA
certificate is written to `ca_file` for the clients to trust.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

import trustme

__all__ = ["NGINX", "BenchNginx", "child_setup", "free_port", "nginx_version"]

NGINX = "/usr/sbin/nginx"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# About the size of a small blog page; the probes look for `<title>` in it.
PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    "<title>Bench Blog</title>\n</head>\n<body>\n<h1>Bench Blog</h1>\n"
    + "".join(
        f"<article><h2>Post {n}</h2><p>Served by Nginx on loopback for the HTTPS probe "
        "benchmark: one request per fresh TLS connection.</p></article>\n"
        for n in range(1, 9)
    )
    + "</body>\n</html>\n"
)

_CONF = """\
{user}worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    default_type text/html;
    # Nginx 1.23.4+ defaults; Debian's 1.22 still offers TLS 1.0 and 1.1 and not 1.3.
    ssl_protocols TLSv1.2 TLSv1.3;
    server {{
        listen {address}:{port} ssl;
        server_name {hostname};
        ssl_certificate {prefix}/site.pem;
        ssl_certificate_key {prefix}/site.pem;
        root {prefix}/html;
        location = / {{
            try_files /index.html =404;
        }}
    }}
}}
"""


def free_port(address: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the kernel's pick for port 0)."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def child_setup(cpus: Iterable[int] | None = None) -> Callable[[], None]:
    """A `preexec_fn`: the child gets SIGTERM if the benchmark dies, and is pinned to `cpus`.

    PR_SET_PDEATHSIG covers what `finally` cannot: the benchmark killed with SIGKILL.
    """
    chosen = set(cpus) if cpus is not None else None
    libc = ctypes.CDLL(None, use_errno=True)

    def setup() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if chosen:
            os.sched_setaffinity(0, chosen)

    return setup


def nginx_version() -> str:
    done = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=True, timeout=10)
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


class BenchNginx:
    """Nginx serving `hostname` over TLS on `address:port` until the `with` block ends."""

    def __init__(
        self,
        hostname: str = "blog.example.com",
        *,
        address: str = "127.0.0.1",
        workers: int = 1,
        cpus: Iterable[int] | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        self.hostname = hostname
        self.address = address
        self.workers = workers
        self.cpus = set(cpus) if cpus is not None else None
        self.start_timeout = start_timeout
        self.port = 0
        self.prefix = Path()
        self.ca_file = Path()
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BenchNginx:
        self.prefix = Path(tempfile.mkdtemp(prefix="regionwatch-bench-nginx-"))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def _start(self) -> None:
        prefix = self.prefix
        (prefix / "tmp").mkdir()
        (prefix / "html").mkdir()
        (prefix / "html" / "index.html").write_text(PAGE)
        ca = trustme.CA()
        ca.issue_cert(self.hostname).private_key_and_cert_chain_pem.write_to_path(
            str(prefix / "site.pem")
        )
        self.ca_file = prefix / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.port = free_port(self.address)
        # As root, Nginx's workers switch to the compiled-in user (www-data), which cannot
        # read a private temporary directory: keep them root. Otherwise `user` is ignored.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(
            _CONF.format(
                user=user,
                workers=self.workers,
                prefix=prefix,
                address=self.address,
                port=self.port,
                hostname=self.hostname,
            )
        )
        command = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        self._process = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its workers form a group we can clean up by its id
            preexec_fn=child_setup(self.cpus),
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nginx exited at start: {self._log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.address, self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen within {self.start_timeout:g}s")

    def _log_tail(self) -> str:
        text = ""
        if self._process is not None and self._process.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                text = self._process.stderr.read().decode(errors="replace")
        log = self.prefix / "error.log"
        if log.exists():
            text += log.read_text(errors="replace")
        return text.strip()[-2000:]

    def stop(self) -> None:
        """Stop Nginx (SIGTERM: fast shutdown, then SIGKILL of its group) and remove the prefix."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
            # Workers outlive a master only if it crashed; the group id stays theirs until then.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            if process.stderr is not None:
                process.stderr.close()
        if self.prefix != Path() and self.prefix.exists():
            shutil.rmtree(self.prefix, ignore_errors=True)
