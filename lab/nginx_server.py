"""Debian's real Nginx as a child process: for the end-to-end tests and the benchmarks.

`NginxServer` writes a self-contained prefix (configuration, certificate, page, pid file, logs,
temp and cache paths), runs `nginx` in the foreground as a child, waits until it listens (with a
deadline), and on exit stops it and removes the prefix it created, also when the caller fails.
It is a `with` block for the benchmarks and an `async with` block for the tests (the event
loop never blocks). The certificate is issued for the site's hostname by a throwaway
`trustme.CA`, whose certificate is written to `ca_file` for the clients to trust.

What Nginx serves is an `NginxSite`, one of the configurations in lab/templates:
`model_site` is the model deployment (docs/nginx.md) in front of a Ghost stand-in, with room
for server-level extras such as the `/healthz` snippet;
`model_static_site` answers the model requests from a static page (no Ghost to measure);
`static_site` is a plain static page over TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType

import trustme

__all__ = [
    "NGINX",
    "PAGE",
    "NginxError",
    "NginxServer",
    "NginxSite",
    "child_setup",
    "free_port",
    "model_site",
    "model_static_site",
    "nginx_binary",
    "nginx_version",
    "static_site",
]

NGINX = "/usr/sbin/nginx"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_POLL = 0.02

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


class NginxError(RuntimeError):
    """Nginx is missing, or would not start (the message carries its error log)."""


@dataclass(frozen=True, slots=True)
class NginxSite:
    """A configuration from lab/templates for one hostname on one loopback address.

    `settings` fills the template's own placeholders; the server fills the rest (prefix, ports,
    certificate, workers).
    """

    template: str
    hostname: str = "blog.example.com"
    address: str = "127.0.0.1"
    settings: Mapping[str, str | int] = field(default_factory=dict)


def model_site(
    upstream: str,
    *,
    hostname: str = "blog.example.com",
    address: str = "127.0.0.1",
    cache_valid: str = "7d",
    server_extra: str = "",
) -> NginxSite:
    """The model deployment in front of Ghost at `upstream` (host:port); tests shorten
    `cache_valid` (the model's 7d) to see STALE quickly. `server_extra` is Nginx text placed
    in the HTTPS server block as it is (regionwatch's /healthz snippet, k8s/nginx/healthz.conf,
    and what a test sets around it)."""
    settings = {"upstream": upstream, "cache_valid": cache_valid, "server_extra": server_extra}
    return NginxSite("nginx-model.conf", hostname, address, settings)


def model_static_site(
    *, hostname: str = "blog.example.com", address: str = "127.0.0.1", backlog: int = 4096
) -> NginxSite:
    """The model deployment's answers to the model requests, from `PAGE` instead of Ghost."""
    return NginxSite("nginx-model-static.conf", hostname, address, {"backlog": backlog})


def static_site(*, hostname: str = "blog.example.com", address: str = "127.0.0.1") -> NginxSite:
    """`PAGE` at `/` over TLS, nothing else."""
    return NginxSite("nginx-static.conf", hostname, address)


def nginx_binary() -> str:
    """The nginx executable, or NginxError saying how to install it."""
    found = NGINX if Path(NGINX).exists() else shutil.which("nginx")
    if found is None:
        raise NginxError("nginx is not installed: `make test` installs it (apt-get install nginx)")
    return found


def nginx_version() -> str:
    """The installed Nginx's version, e.g. `nginx/1.22.1`."""
    command = [nginx_binary(), "-v"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=10)  # noqa: S603 (our argv, no shell)
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


def free_port(address: str = "127.0.0.1") -> int:
    """A port that was free on `address` a moment ago (Nginx must be given a number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def child_setup(cpus: Iterable[int] | None = None) -> Callable[[], None]:
    """A `preexec_fn`: the child gets SIGTERM if its parent dies, and is pinned to `cpus`.

    PR_SET_PDEATHSIG covers what `finally` cannot: the parent killed with SIGKILL. It fires when
    the *thread* that started the child ends, so start children from a thread that lives on.
    """
    chosen = set(cpus) if cpus is not None else None
    libc = ctypes.CDLL(None, use_errno=True)

    def setup() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if chosen:
            os.sched_setaffinity(0, chosen)

    return setup


class NginxServer:
    """One Nginx master and its workers serving `site` until the (async) `with` block ends.

    `prefix` is where its files go: a temporary directory removed on stop when not given.
    `cpus` pins the master and its workers. `port` (HTTPS) and `http_port` are chosen at start.
    """

    def __init__(
        self,
        site: NginxSite,
        *,
        prefix: Path | None = None,
        workers: int = 1,
        cpus: Iterable[int] | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        self.site = site
        self.workers = workers
        self.cpus = set(cpus) if cpus is not None else None
        self.start_timeout = start_timeout
        self.prefix = prefix or Path()
        self._owns_prefix = prefix is None
        self.port = 0
        self.http_port = 0
        self.ca_file = Path()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def hostname(self) -> str:
        return self.site.hostname

    @property
    def address(self) -> str:
        return self.site.address

    @property
    def pid(self) -> int:
        """The master's process id (also its process group's)."""
        if self._process is None:
            raise NginxError("nginx is not running")
        return self._process.pid

    # ------------------------------------------------------------------ blocking, for bench/

    def start(self) -> None:
        """Start Nginx and return once it accepts connections (NginxError after the deadline)."""
        try:
            self._prepare()
            self._spawn()
            deadline = time.monotonic() + self.start_timeout
            while not self._accepting():
                self._raise_if_exited_or_late(time.monotonic() > deadline)
                time.sleep(_POLL)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop Nginx (SIGTERM: fast shutdown, then SIGKILL of its group) and clean up."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self._finish()

    def __enter__(self) -> NginxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ async, for tests/

    async def astart(self) -> None:
        """`start` without blocking the event loop."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(self._prepare)
            self._spawn()  # on the loop's thread, which outlives the child (see child_setup)
            deadline = loop.time() + self.start_timeout
            while not await self._aaccepting():
                self._raise_if_exited_or_late(loop.time() > deadline)
                await asyncio.sleep(_POLL)
        except BaseException:
            await self.astop()
            raise

    async def astop(self) -> None:
        """`stop` without blocking the event loop."""
        await asyncio.to_thread(self.stop)

    async def __aenter__(self) -> NginxServer:
        await self.astart()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.astop()

    # ------------------------------------------------------------------ the parts

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else "(no error log)"

    def _prepare(self) -> None:
        if self._owns_prefix:
            self.prefix = Path(tempfile.mkdtemp(prefix="regionwatch-nginx-"))
        prefix = self.prefix
        for sub in ("tmp", "cache", "html"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        (prefix / "html" / "index.html").write_text(PAGE, encoding="utf-8")
        ca = trustme.CA()
        site_pem = prefix / "site.pem"  # the key and the chain: Nginx reads both from one file
        ca.issue_cert(self.hostname).private_key_and_cert_chain_pem.write_to_path(str(site_pem))
        self.ca_file = prefix / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.port = free_port(self.address)
        for _ in range(10):  # the kernel may hand the same free port out twice
            self.http_port = free_port(self.address)
            if self.http_port != self.port:
                break
        template = resources.files("lab").joinpath("templates", self.site.template).read_text()
        # As root, workers would switch to the compiled-in user (www-data), which cannot read a
        # private prefix: keep them root. Otherwise `user` is ignored, so leave it out.
        user_line = "user root;" if os.geteuid() == 0 else ""
        config = string.Template(template).substitute(
            self.site.settings,
            user_line=user_line,
            workers=self.workers,
            prefix=prefix,
            address=self.address,
            hostname=self.hostname,
            https_port=self.port,
            http_port=self.http_port,
            cert_file=site_pem,
            key_file=site_pem,
        )
        (prefix / "nginx.conf").write_text(config, encoding="utf-8")

    def _spawn(self) -> None:
        prefix = self.prefix
        command = [nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
        command += ["-e", str(prefix / "error.log"), "-g", "daemon off;"]
        self._process = subprocess.Popen(  # noqa: S603 (our argv, no shell)
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its workers form a group we can clean up by its id
            preexec_fn=child_setup(self.cpus),
        )

    def _accepting(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((self.address, self.port), timeout=0.5),
        ):
            return True
        return False

    async def _aaccepting(self) -> bool:
        try:
            _, writer = await asyncio.open_connection(self.address, self.port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    def _raise_if_exited_or_late(self, late: bool) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            raise NginxError(f"nginx exited at start: {self._log_tail()}")
        if late:
            log = self.error_log().strip()[-2000:]
            raise NginxError(f"nginx did not listen within {self.start_timeout:g}s: {log}")

    def _log_tail(self) -> str:
        text = ""
        if self._process is not None and self._process.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                text = self._process.stderr.read().decode(errors="replace")
        return (text + self.error_log()).strip()[-2000:]

    def _finish(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
            # Workers outlive a master only if it crashed; the group id stays theirs until then.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            if process.stderr is not None:
                process.stderr.close()
        if self._owns_prefix and self.prefix != Path() and self.prefix.exists():
            shutil.rmtree(self.prefix, ignore_errors=True)
