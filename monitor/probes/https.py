"""The regional HTTP(S) probe: one request to one region's address, bypassing DNS.

Every attempt opens a fresh connection. httpx pools connections by scheme, host and port,
not by server name, so a kept-alive connection would skip the handshake and a certificate a
bad deploy just shipped would go unchecked (docs/architecture.md, "A fresh TLS connection for every
regional probe"). The server name and `Host` are the site's hostname and the certificate is
verified for it. HTTP/1.1 is parsed by h11 over asyncio streams: httpx's per-request
overhead is about twice the cost of the handshake itself (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import h11
import structlog

from monitor.clock import Clock
from monitor.config import Config, HttpsRequest
from monitor.probes.expectations import Observation, judge
from monitor.release import RELEASE
from monitor.results import CheckResult, FailureClass, OnFailure, Outcome

__all__ = [
    "BYPASS_HEADER",
    "HttpsProbe",
    "HttpsTarget",
    "build_ssl_context",
    "site_ssl_context",
]

BYPASS_HEADER = "X-Regionwatch-Bypass"
USER_AGENT = f"regionwatch/{RELEASE}"
_READ_CHUNK = 65536
log = structlog.get_logger("monitor.probes.https")

# Errors raised by our own host, not by the target: we could not judge (ERROR).
_LOCAL_ERRNOS = frozenset(
    {
        errno.ENETUNREACH,
        errno.EADDRNOTAVAIL,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOBUFS,
        errno.ENOMEM,
        errno.EPERM,  # a local firewall or sandbox refused the connection
        errno.EACCES,
    }
)


@dataclass(frozen=True, slots=True)
class HttpsTarget:
    """Where a region answers, and the name it must answer for."""

    region: str
    hostname: str
    address: str
    port: int = 443
    http_port: int = 80


@dataclass(slots=True)
class _Progress:
    """How far an attempt got, so a timeout can say where it hung."""

    stage: str = "connecting"
    facts: dict[str, str | int | float | bool | None] = field(default_factory=dict)


def site_ssl_context(config: Config) -> ssl.SSLContext:
    """The trust every TLS check of `config` uses: system CAs plus `tls.ca_file`."""
    return build_ssl_context(str(config.tls.ca_file) if config.tls.ca_file else None)


def build_ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """System trust plus an optional extra CA bundle; hostname checking on."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class HttpsProbe:
    """One configured request against one region. See `monitor.probes.base.Probe`."""

    kind = "https"

    def __init__(
        self,
        target: HttpsTarget,
        request: HttpsRequest,
        *,
        ssl_context: ssl.SSLContext,
        timeout: float,
        clock: Clock,
        max_body: int = 256 * 1024,
        min_cert_days: int = 14,
        release_header: str = "X-Release",
        source_address: str | None = None,
    ) -> None:
        self.target = target
        # The local address probes connect from (this vantage point's own path to the region).
        self._source = source_address
        self.request = request
        self._ssl = ssl_context
        self._timeout = timeout
        self._clock = clock
        self._max_body = max_body
        self._min_cert_days = min_cert_days
        self._release_header = release_header.lower()
        self._secure = request.scheme == "https"
        # Built once: validating and normalising the headers is a measurable share of a probe.
        # A `query` bypass needs a unique target on every attempt.
        self._fixed = None if request.bypass_cache == "query" else self._build_request(request.path)

    @property
    def name(self) -> str:
        return self.request.name

    @property
    def region(self) -> str:
        return self.target.region

    async def probe(self) -> CheckResult:
        started_at = self._clock.now()
        start = self._clock.monotonic()
        progress = _Progress()
        try:
            async with asyncio.timeout(self._timeout):
                seen = await self._exchange(progress, start)
        except TimeoutError:
            return self._down(
                started_at, start, progress, f"timed out after {self._timeout:g}s {progress.stage}"
            )
        except ssl.SSLCertVerificationError as e:
            detail = e.verify_message or e.reason or str(e)
            return self._down(
                started_at, start, progress, f"certificate rejected: {detail}", FailureClass.CONTENT
            )
        except ssl.SSLError as e:
            return self._down(
                started_at, start, progress, f"TLS failed: {e.reason or e}", FailureClass.CONTENT
            )
        except h11.RemoteProtocolError as e:
            reason, where = _protocol_failure(e, progress)
            return self._down(started_at, start, progress, reason, where)
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            return self._down(started_at, start, progress, f"connection reset {progress.stage}")
        except ConnectionRefusedError:
            return self._down(started_at, start, progress, "connection refused")
        except socket.gaierror as e:
            # Our resolver failed to find the region's address: we could not judge.
            return self._error(
                started_at, start, progress, f"cannot resolve {self.target.address}: {e}"
            )
        except OSError as e:
            if e.errno in _LOCAL_ERRNOS:
                return self._error(started_at, start, progress, f"local network error: {e}")
            return self._down(started_at, start, progress, f"{e.strerror or e} {progress.stage}")
        except Exception as e:  # our bug: never a region failure
            log.exception("probe_crashed", region=self.region, check=self.name)
            return self._error(started_at, start, progress, f"internal error: {type(e).__name__}")
        return self._judged(started_at, start, progress, seen)

    async def _exchange(self, progress: _Progress, start: float) -> Observation:
        target = self.target
        port = target.port if self._secure else target.http_port
        sock = await _connect(target.address, port, self._source)
        progress.facts["connect_ms"] = self._elapsed_ms(start)
        if self._secure:
            progress.stage = "during the TLS handshake"
        try:
            # TLS on the connected socket in one step: `StreamWriter.start_tls` re-wraps the
            # transport (reading paused and resumed, extra loop turns), ~0.1 ms per probe.
            reader, writer = await asyncio.open_connection(
                sock=sock,
                ssl=self._ssl if self._secure else None,
                server_hostname=target.hostname if self._secure else None,
            )
        except BaseException:
            sock.close()
            raise
        try:
            cert_days_left = None
            if self._secure:
                progress.facts["tls_ms"] = self._elapsed_ms(start)
                cert_days_left = self._record_certificate(writer, progress)
            progress.stage = "waiting for the response"
            connection = h11.Connection(our_role=h11.CLIENT)
            writer.write(connection.send(self._request()) + connection.send(h11.EndOfMessage()))
            status, headers, body = await self._read_response(reader, connection, progress, start)
        finally:
            # abort(): no TLS close_notify round trip; the answer is already in hand.
            writer.transport.abort()
        latency = self._clock.monotonic() - start
        return Observation(status, headers, body, latency, cert_days_left)

    def _request(self) -> h11.Request:
        if self._fixed is not None:
            return self._fixed
        path = self.request.path
        path += ("&" if "?" in path else "?") + f"regionwatch_bypass={uuid.uuid4().hex}"
        return self._build_request(path)

    def _build_request(self, path: str) -> h11.Request:
        headers = [
            ("Host", self.target.hostname),
            ("User-Agent", USER_AGENT),
            ("Accept", "*/*"),
            ("Connection", "close"),
        ]
        if self.request.bypass_cache == "header":
            headers.append((BYPASS_HEADER, "1"))
        headers.extend(self.request.headers.items())
        return h11.Request(method=self.request.method, target=path, headers=headers)

    async def _read_response(
        self,
        reader: asyncio.StreamReader,
        connection: h11.Connection,
        progress: _Progress,
        start: float,
    ) -> tuple[int, dict[str, str], bytes]:
        status = 0
        headers: dict[str, str] = {}
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(_READ_CHUNK)
                if not data and status == 0:
                    # Closed before a single byte of answer: a cut path or a crash, not a
                    # malformed response.
                    raise ConnectionResetError("closed before a response")
                connection.receive_data(data)  # b"" is EOF: h11 raises if the message is incomplete
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                progress.facts["ttfb_ms"] = self._elapsed_ms(start)
                progress.stage = "reading the body"
                for raw_name, raw_value in event.headers:
                    name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
                    headers[name] = f"{headers[name]}, {value}" if name in headers else value
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) >= self._max_body:
                    progress.facts["body_truncated"] = True
                    del body[self._max_body :]
                    break
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        return status, headers, bytes(body)

    def _record_certificate(
        self, writer: asyncio.StreamWriter, progress: _Progress
    ) -> float | None:
        # asyncio decoded it at the end of the handshake: no second getpeercert().
        cert = writer.get_extra_info("peercert")
        if not cert:
            return None
        expires = _not_after(str(cert["notAfter"]))
        days_left = (expires - self._clock.now()).total_seconds() / 86400
        progress.facts["cert_not_after"] = expires.isoformat()
        progress.facts["cert_days_left"] = round(days_left, 2)
        progress.facts["cert_issuer"] = _issuer(cert)
        # What tells two certificates apart (`regions.drifting`): same issuer, same expiry
        # is not rare for certificates renewed together.
        progress.facts["cert_serial"] = str(cert.get("serialNumber") or "") or None
        return days_left

    def _judged(
        self, started_at: datetime, start: float, progress: _Progress, seen: Observation
    ) -> CheckResult:
        facts = progress.facts
        facts["status"] = seen.status
        facts["cache_status"] = seen.headers.get("x-cache-status")
        facts["x_host"] = seen.headers.get("x-host")
        facts["release"] = seen.headers.get(self._release_header)
        facts["bypass_cache"] = self.request.bypass_cache
        facts["body_bytes"] = len(seen.body)
        findings = judge(
            self.request, seen, hostname=self.target.hostname, min_cert_days=self._min_cert_days
        )
        latency_ms = round(seen.latency_s * 1000, 2)
        if not findings:
            return self._result(Outcome.UP, started_at, start, facts, "", latency_ms=latency_ms)
        failover = [f for f in findings if f.on_failure is OnFailure.FAILOVER]
        deciding = failover or findings
        transport = all(f.failure_class is FailureClass.TRANSPORT for f in deciding)
        return self._result(
            Outcome.DOWN,
            started_at,
            start,
            facts,
            "; ".join(f.message for f in findings),
            on_failure=OnFailure.FAILOVER if failover else OnFailure.ALERT,
            failure_class=FailureClass.TRANSPORT if transport else FailureClass.CONTENT,
            latency_ms=latency_ms,
        )

    def _down(
        self,
        started_at: datetime,
        start: float,
        progress: _Progress,
        reason: str,
        failure_class: FailureClass = FailureClass.TRANSPORT,
    ) -> CheckResult:
        return self._result(
            Outcome.DOWN,
            started_at,
            start,
            progress.facts,
            reason,
            on_failure=self.request.on_failure or OnFailure.FAILOVER,
            failure_class=failure_class,
        )

    def _error(
        self, started_at: datetime, start: float, progress: _Progress, reason: str
    ) -> CheckResult:
        return self._result(Outcome.ERROR, started_at, start, progress.facts, reason)

    def _result(
        self,
        outcome: Outcome,
        started_at: datetime,
        start: float,
        facts: dict[str, str | int | float | bool | None],
        reason: str,
        *,
        on_failure: OnFailure = OnFailure.FAILOVER,
        failure_class: FailureClass | None = None,
        latency_ms: float | None = None,
    ) -> CheckResult:
        duration = self._clock.monotonic() - start
        release = facts.get("release")
        return CheckResult(
            check=self.request.name,
            kind=self.kind,
            region=self.target.region,
            outcome=outcome,
            started_at=started_at,
            duration=timedelta(seconds=duration),
            reason=reason,
            on_failure=on_failure,
            failure_class=failure_class,
            latency_ms=latency_ms,
            facts=facts,
            release=release if isinstance(release, str) else None,
        )

    def _elapsed_ms(self, start: float) -> float:
        return round((self._clock.monotonic() - start) * 1000, 2)


async def _connect(host: str, port: int, source: str | None = None) -> socket.socket:
    """A connected non-blocking TCP socket; a name is resolved first (an address is not).
    With `source`, the socket is bound to that local address first, and only addresses of its
    family are tried: an address it cannot bind is our network's failure (EADDRNOTAVAIL)."""
    loop = asyncio.get_running_loop()
    candidates: list[tuple[socket.AddressFamily, tuple[Any, ...]]]
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        candidates = [(family, (host, port))]
    except ValueError:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        candidates = [(info[0], info[4]) for info in infos]
    if source is not None:
        wanted = socket.AF_INET6 if ipaddress.ip_address(source).version == 6 else socket.AF_INET
        candidates = [c for c in candidates if c[0] == wanted]
        if not candidates:
            raise OSError(errno.EADDRNOTAVAIL, f"no address of {host} to reach from {source}")
    error: OSError | None = None
    for family, address in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if source is not None:
                sock.bind((source, 0))
            await loop.sock_connect(sock, address)
        except BaseException as e:
            sock.close()
            if not isinstance(e, OSError):
                raise
            error = e
            continue
        return sock
    raise error or OSError(f"no address for {host}")


@functools.lru_cache(maxsize=256)
def _not_after(text: str) -> datetime:
    """The same certificate comes back on every probe: parse its notAfter once."""
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(text), UTC)


def _protocol_failure(
    error: h11.RemoteProtocolError, progress: _Progress
) -> tuple[str, FailureClass]:
    text = str(error)
    if "without sending complete" in text:
        # The peer hung up mid-response: a crash or a cut path, not a wrong answer.
        return f"connection closed {progress.stage} (incomplete response)", FailureClass.TRANSPORT
    return f"malformed response: {text}", FailureClass.CONTENT


def _issuer(cert: dict[str, object]) -> str:
    parts: dict[str, str] = {}
    for rdn in cert.get("issuer", ()):  # type: ignore[attr-defined]
        for key, value in rdn:
            parts.setdefault(key, value)
    return parts.get("commonName") or parts.get("organizationName") or ""
