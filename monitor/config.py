"""The configuration: pydantic models of docs/architecture.md's YAML, and `load_config` with clear errors.

Key names are a contract (docs/configuration.md documents every one, and a test keeps the two
in step). Unknown keys are errors, references between sections are resolved here, and every
error names the file, the key path and what was expected.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.configfile import read_yaml
from monitor.durations import format_duration, parse_duration
from monitor.errors import ConfigError, ConfigProblem
from monitor.events import EventType
from monitor.interpolate import Substitution, interpolate, redact, scrub
from monitor.quoting import quoted, shortened
from monitor.results import OnFailure

__all__ = [
    "MIN_INTERVAL",
    "AlertConfig",
    "ApiConfig",
    "Config",
    "DnsChecks",
    "Expect",
    "FailoverConfig",
    "HttpsChecks",
    "HttpsRequest",
    "RegionConfig",
    "UrlRule",
    "load_config",
    "parse_config",
]

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
Port = Annotated[int, Field(ge=1, le=65535)]
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$"
)
# An IPv6 host goes in brackets, so the port is whatever follows the last colon.
_LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):[0-9]{1,5}")
_HEADER = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_PROBE_HEADERS = frozenset({"host", "connection", "content-length", "transfer-encoding"})
# Free text from a library (a regular expression's error) is cut to this many characters.
_LIBRARY_TEXT = 200
# The fewest seconds between two rounds. HTTPS: an attempt opens a fresh TCP and TLS
# connection to a region maybe a continent away (a few round trips, often over 500 ms), and
# the timeout may not exceed the interval. DNS and Traffic Manager: third parties (public
# resolvers, Azure Resource Manager) that throttle or block a client asking many times a second.
MIN_INTERVAL = timedelta(seconds=1)
_MIN_AUDIT_RETENTION = timedelta(days=1)
_MAX_BODY = 16 * 1024 * 1024
# An ARM path segment (`/resourceGroups/{name}/`): a slash or a space would change the path.
_ARM_NAME = re.compile(r"^[^/\s\x00-\x1f\x7f]+$")
# Values never echoed in an error: they may hold a secret after ${ENV} substitution.
_SECRET_KEYS = frozenset({"token", "read_token", "secret", "url", "client_secret"})


def _check_name(value: str, what: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"expected a {what} name of lowercase letters, digits and dashes, got {quoted(value)}"
        )
    return value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_hostname(value: str) -> bool:
    # A name never ends in a number (RFC 3696 §2): `999.1.1.1` is a mistyped address, not a name.
    return bool(_HOSTNAME.fullmatch(value)) and not value.rstrip(".").rpartition(".")[2].isdigit()


def _not_an_address(value: str) -> str:
    """Why a value that looks like an IPv4 address is none, for the end of a message."""
    if _HOSTNAME.fullmatch(value) and not _is_hostname(value):
        return " (an IPv4 address is four numbers from 0 to 255, and a name cannot end in a number)"
    return ""


def _check_host(value: str) -> str:
    if not _is_ip(value) and not _is_hostname(value):
        raise ValueError(
            f"expected an IP address or a hostname, got {quoted(value)}{_not_an_address(value)}"
        )
    return value


def _shown(value: object) -> str:
    """A value as a message shows it; a list or mapping is described, never printed whole."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return quoted(value)


@dataclass(frozen=True, slots=True)
class UrlRule:
    """What a URL key accepts; its `check` validates a value, its `type_cell` is the doc's Type.

    A URL is checked as the client that will use it parses it (the standard library's
    urlsplit, then httpx), so a malformed one fails at load, not on every request.
    """

    schemes: tuple[str, ...]
    example: str
    bare_host: bool = False  # a hostname alone means https://hostname (azure-identity's rule)
    # A base the Azure SDK appends paths to: a query or a fragment would swallow them, and a
    # user name or password is never sent (credentials come from azure-identity).
    base_only: bool = False

    @property
    def type_cell(self) -> str:
        kind = " or ".join(self.schemes)
        return f"{kind} URL or hostname" if self.bare_host else f"{kind} URL"

    def check(self, value: str) -> str:
        problem = self._problem(value)
        if problem:
            kind = " or ".join(self.schemes)
            article = "an" if kind[0] in "aeiouh" else "a"
            raise ValueError(f"expected {article} {kind} URL such as {self.example} ({problem})")
        return value

    def _problem(self, value: str) -> str | None:
        # Never quotes the value: a URL may carry a token or credentials.
        if not value or any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in value):
            return "it is empty or has spaces or control characters"
        if self.bare_host and "://" not in value:
            return None if _is_hostname(value) else "it is not a hostname"
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as e:
            return f"it is malformed: {_url_error(e)}"
        if parts.scheme not in self.schemes:
            return f"its scheme is {parts.scheme}" if parts.scheme else "it has no scheme"
        host = parts.hostname or ""
        if not host:
            return "it has no host"
        if not _is_ip(host) and not _is_hostname(host):
            return f"its host is not an IP address or a hostname{_not_an_address(host)}"
        if port == 0:
            return "its port is 0"
        try:
            httpx.URL(value)
        except httpx.InvalidURL:
            return "it is malformed"
        if self.base_only:
            return _base_problem(value, parts.netloc)
        return None


def _base_problem(value: str, netloc: str) -> str | None:
    """What keeps a URL from being a base that paths are appended to."""
    if "@" in netloc:
        return "it has a user name or password; credentials come from azure-identity, never the URL"
    if "?" in value:
        return "it has a query string (?...); give the scheme, host, port and path only"
    if "#" in value:
        return "it has a fragment (#...); give the scheme, host, port and path only"
    return None


def _url_error(error: ValueError) -> str:
    text = str(error)
    if text.startswith("Port"):
        return "its port is not a number from 1 to 65535"
    return text  # urlsplit's own messages ("Invalid IPv6 URL") quote nothing of the URL


_DOH_URL = UrlRule(("https",), "https://1.1.1.1/dns-query")
_ARM_URL = UrlRule(("https",), "https://management.azure.com", base_only=True)
_AUTHORITY = UrlRule(
    ("https",), "https://login.microsoftonline.com", bare_host=True, base_only=True
)
_ALERT_URL = UrlRule(("http", "https"), "https://hooks.example.com/regionwatch")
_PUBLIC_URL = UrlRule(("http", "https"), "https://regionwatch.example.com")
# Headers an alert channel sets itself: the signature, its timestamp, the idempotency key.
_ALERT_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "idempotency-key",
        "x-regionwatch-signature",
        "x-regionwatch-timestamp",
    }
)
# Names that only resolve inside a Kubernetes cluster: a receiver there may take plain http.
_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local")


def _https_unless_inside(url: str, why: str) -> None:
    """Refuse plain http to anywhere but loopback or an in-cluster name, saying `why`."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not _inside(parts.hostname or ""):
        raise ValueError(
            "url: expected an https URL (plain http only on loopback or for an in-cluster "
            f"name{why})"
        )


def _one_line_headers(value: dict[str, str], reserved: frozenset[str], setter: str) -> None:
    """Header names as HTTP allows them, none of `reserved` (set by `setter`), values on one
    line."""
    for name, text in value.items():
        if not _HEADER.fullmatch(name):
            raise ValueError(f"expected HTTP header names, got {quoted(name)}")
        if name.lower() in reserved:
            raise ValueError(f"{name} is set by {setter}")
        if any(c in text for c in "\r\n\0"):
            raise ValueError(f"the value of {shortened(name)} must be one line")


def _inside(host: str) -> bool:
    """Whether `host` is loopback or an in-cluster name (a Service's short or `.svc` name),
    where plain http never crosses a network someone else can read."""
    host = host.rstrip(".").lower()
    if _is_ip(host):
        return ipaddress.ip_address(host).is_loopback
    return host == "localhost" or "." not in host or host.endswith(_CLUSTER_SUFFIXES)


PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_PEER_URL = UrlRule(("http", "https"), "https://observer.example.com:8000")


def _check_path(value: Path) -> Path:
    if "\0" in str(value):
        raise ValueError("expected a file path, got one with a NUL character")
    return value


FilePath = Annotated[Path, AfterValidator(_check_path)]


def _check_region_name(value: str) -> str:
    return _check_name(value, "region")


# Validated as the mapping's key, so an error names the region: `regions.West_Europe: ...`.
RegionName = Annotated[str, AfterValidator(_check_region_name)]


def _positive(value: timedelta, key: str) -> None:
    if value <= timedelta(0):
        raise ValueError(f"{key}: expected a duration above 0s")


def _an_interval(value: timedelta) -> None:
    if value < MIN_INTERVAL:
        raise ValueError(
            f"interval: expected a duration of at least {format_duration(MIN_INTERVAL)}, "
            f"got {format_duration(value)}"
        )


def _given(
    section: HttpsChecks | DnsChecks, path: str, key: str, *, in_parentheses: bool = False
) -> str:
    """A duration as a message shows it, saying when it is the default, not the user's."""
    text = format_duration(getattr(section, key))
    if key in section.model_fields_set:
        return text
    note = f"the default; set {path}.{key}"
    return f"{text}, {note}" if in_parentheses else f"{text} ({note})"


def _timeout_within(section: HttpsChecks | DnsChecks, path: str) -> None:
    """A timeout longer than the interval would let one round run into the next."""
    if section.timeout > section.interval:
        raise ValueError(
            f"timeout: expected at most the interval "
            f"({_given(section, path, 'interval', in_parentheses=True)}), "
            f"got {_given(section, path, 'timeout')}"
        )


def _unique_names(items: list[Any], key: str) -> None:
    names = [item.name for item in items]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"{key}: the name {quoted(name)} is used more than once")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _not_one_host(value: str) -> str | None:
    """Why an IP address names no single host (for the end of a message), if it does not."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:0.0.0.0 is 0.0.0.0 to the socket
    if address.is_unspecified:
        return "the unspecified address means any address of this machine, not a host"
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address means every host on the local network"
    if address.is_multicast:
        return "a multicast address names a group of hosts, not one"
    return None


class Site(Model):
    hostname: str

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str) -> str:
        if not _is_ip(value) and not _is_hostname(value):
            raise ValueError(
                f"expected a DNS hostname such as blog.example.com, got {quoted(value)}"
                f"{_not_an_address(value)}"
            )
        return value.rstrip(".").lower()


class RegionConfig(Model):
    address: str
    port: Port = 443
    http_port: Port = 80
    endpoint: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        _check_host(value)
        why = _not_one_host(value)
        if why:
            raise ValueError(f"expected the address of one host, got {quoted(value)} ({why})")
        return value


class TlsConfig(Model):
    ca_file: FilePath | None = None


class Expect(Model):
    status: list[Annotated[int, Field(ge=100, le=599)]] = Field(default_factory=lambda: [200])
    body_contains: str | None = None
    body_regex: re.Pattern[str] | None = None
    fresh_cache: list[str] = Field(default_factory=lambda: ["STALE"])
    max_latency: Duration | None = None
    redirect_to_https: bool = False
    headers_present: list[str] = Field(default_factory=list)
    headers_absent: list[str] = Field(default_factory=list)
    min_cert_days: Annotated[int, Field(ge=0)] | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("expected at least one HTTP status code")
        return value

    @field_validator("body_regex", mode="before")
    @classmethod
    def _regex(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return re.compile(value)
            except (re.error, OverflowError) as e:
                reason = shortened(str(e), _LIBRARY_TEXT)  # may quote a group name
                raise ValueError(f"expected a regular expression: {reason}") from None
            except RecursionError:
                raise ValueError("expected a regular expression: nested too deeply") from None
        return value

    @field_validator("headers_present", "headers_absent")
    @classmethod
    def _headers(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _HEADER.fullmatch(name):
                raise ValueError(f"expected HTTP header names, got {quoted(name)}")
        return value

    @field_validator("fresh_cache")
    @classmethod
    def _cache(cls, value: list[str]) -> list[str]:
        return [v.upper() for v in value]


class HttpsRequest(Model):
    name: str
    path: str = "/"
    scheme: Literal["https", "http"] = "https"
    method: Literal["GET", "HEAD"] = "GET"
    bypass_cache: Literal["off", "query", "header"] = "off"
    headers: dict[str, str] = Field(default_factory=dict)
    expect: Expect = Field(default_factory=Expect)
    on_failure: OnFailure | None = None
    samples: Annotated[int, Field(ge=1, le=15)] | None = None
    regions: list[str] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value, "request")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in " \r\n"):
            raise ValueError(
                f"expected a path starting with / and without spaces, got {quoted(value)}"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        _one_line_headers(value, _PROBE_HEADERS, "the probe itself (the site's hostname)")
        return value


def _default_requests() -> list[HttpsRequest]:
    return [HttpsRequest(name="home")]


class CertificateConfig(Model):
    min_days_left: Annotated[int, Field(ge=0)] = 14


class HttpsChecks(Model):
    interval: Duration = timedelta(seconds=10)
    timeout: Duration = timedelta(seconds=5)
    samples: Annotated[int, Field(ge=1, le=15)] = 1
    jitter: Duration | None = None
    max_body: Annotated[int, Field(ge=1024, le=_MAX_BODY)] = 256 * 1024
    concurrency: Annotated[int, Field(ge=1, le=4096)] = 64
    requests: list[HttpsRequest] = Field(default_factory=_default_requests)
    certificate: CertificateConfig = Field(default_factory=CertificateConfig)
    # The local address probes connect from (null: the system's choice for each route).
    source_address: str | None = None

    @field_validator("source_address")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is not None and not _is_ip(value):
            raise ValueError(f"expected an IPv4 or IPv6 address, got {quoted(value)}")
        return value

    @model_validator(mode="after")
    def _checks(self) -> Self:
        _an_interval(self.interval)
        _positive(self.timeout, "timeout")
        _timeout_within(self, "checks.https")
        if self.jitter is not None and self.jitter >= self.interval:
            # A round could start later than the next one is due: rounds would be skipped.
            interval = _given(self, "checks.https", "interval", in_parentheses=True)
            jitter = _given(self, "checks.https", "jitter")
            raise ValueError(f"jitter: expected less than the interval ({interval}), got {jitter}")
        _unique_names(self.requests, "requests")
        return self

    @property
    def effective_jitter(self) -> timedelta:
        """Spreads rounds so regions are not probed in lockstep.

        Default: a tenth of the interval, at most 1s.
        """
        if self.jitter is not None:
            return self.jitter
        return min(self.interval / 10, timedelta(seconds=1))


class ResolverConfig(Model):
    name: str
    protocol: Literal["udp", "tcp", "doh", "dot"] = "udp"
    address: str | None = None
    port: Port | None = None
    url: Annotated[str, AfterValidator(_DOH_URL.check), _DOH_URL] | None = None
    tls_hostname: str | None = None
    expect_region: str | None = None

    @field_validator("tls_hostname")
    @classmethod
    def _tls_hostname(cls, value: str | None) -> str | None:
        return None if value is None else _check_host(value)

    @model_validator(mode="after")
    def _target(self) -> Self:
        if self.protocol == "doh" and not self.url:
            raise ValueError("url: a doh resolver needs a url such as https://127.0.0.1/dns-query")
        if self.protocol != "doh" and not self.address:
            raise ValueError(f"address: a {self.protocol} resolver needs an address")
        if self.address is not None:
            try:
                ipaddress.ip_address(self.address)
            except ValueError:
                # Looking the resolver up would go through another resolver: name it by address.
                raise ValueError(
                    f"address: expected the resolver's IP address, got {quoted(self.address)}"
                ) from None
        return self


class VantagePointConfig(Model):
    name: str
    client_subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
    expect_region: str | None = None

    @field_validator("client_subnet", mode="before")
    @classmethod
    def _subnet(cls, value: object) -> object:
        text = str(value)
        try:
            return ipaddress.ip_network(text, strict=True)
        except ValueError as e:
            # ipaddress quotes the value (`'…' does not appear to be`) or not (`… has host bits
            # set`): either way, cut as a message shows a value.
            reason = str(e).replace(repr(text), quoted(text)).replace(text, shortened(text))
            raise ValueError(f"expected a network such as 81.2.69.0/24: {reason}") from None


class DnsChecks(Model):
    interval: Duration = timedelta(seconds=30)
    timeout: Duration = timedelta(seconds=3)
    resolvers: list[ResolverConfig] = Field(default_factory=list)
    vantage_points: list[VantagePointConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _checks(self) -> Self:
        _an_interval(self.interval)
        _positive(self.timeout, "timeout")
        _timeout_within(self, "checks.dns")
        # Answers are told apart by resolver and vantage point name.
        _unique_names(self.resolvers, "resolvers")
        _unique_names(self.vantage_points, "vantage_points")
        return self


class Checks(Model):
    https: HttpsChecks = Field(default_factory=HttpsChecks)
    dns: DnsChecks | None = None


def _check_arm_name(value: str) -> str:
    if not _ARM_NAME.fullmatch(value):
        raise ValueError(
            f"expected a name that is not empty and has no / and no spaces (it goes into the "
            f"Azure Resource Manager path), got {quoted(value)}"
        )
    return value


# A subscription ID, resource group or profile: one segment of an ARM path.
ArmName = Annotated[str, AfterValidator(_check_arm_name)]


class TrafficManagerConfig(Model):
    interval: Duration = timedelta(seconds=30)
    subscription_id: ArmName
    resource_group: ArmName
    profile: ArmName
    resource_manager_url: Annotated[str, AfterValidator(_ARM_URL.check), _ARM_URL] = (
        "https://management.azure.com"
    )
    authority_host: Annotated[str, AfterValidator(_AUTHORITY.check), _AUTHORITY] | None = None
    ca_file: FilePath | None = None

    @model_validator(mode="after")
    def _interval(self) -> Self:
        _an_interval(self.interval)
        return self


class FlapLimitConfig(Model):
    disables: Annotated[int, Field(ge=1)] = 3
    within: Duration = timedelta(hours=24)


class FailoverConfig(Model):
    mode: Literal["off", "dry-run", "enforce"] = "dry-run"
    failing_rounds: Annotated[int, Field(ge=1)] = 3
    failing_rounds_without_deploy: Annotated[int, Field(ge=1)] | None = 12
    healthy_rounds: Annotated[int, Field(ge=1)] = 5
    deploy_window: Duration = timedelta(minutes=30)
    min_enabled: Annotated[int, Field(ge=1)] = 1
    max_disables_per_hour: Annotated[int, Field(ge=0)] = 1
    cooldown: Duration = timedelta(minutes=10)
    reenable: Literal["auto", "manual"] = "auto"
    streak_gap: Duration | None = None
    # After this many automatic disables of one endpoint within the window, re-enabling it is
    # a person's (null: never).
    flap_limit: FlapLimitConfig | None = FlapLimitConfig()


class DeploysConfig(Model):
    version_header: str = "X-Release"
    lead: Duration = timedelta(minutes=2)

    @field_validator("version_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER.fullmatch(value):
            raise ValueError(
                f"expected an HTTP header name (letters, digits and !#$%&'*+-.^_`|~, no "
                f"spaces or colons), got {quoted(value)}"
            )
        return value


class AlertConfig(Model):
    """One alert channel: where to send, how to sign, and which events it takes."""

    name: str
    type: Literal["webhook", "slack", "teams", "pagerduty"]
    # Required, except for pagerduty (whose Events API v2 address is the default).
    url: Annotated[str, AfterValidator(_ALERT_URL.check), _ALERT_URL] | None = None
    secret: str | None = None
    # pagerduty: the integration's routing key (a secret, like a Slack or Teams URL).
    routing_key: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    events: list[str] | None = None
    regions: list[str] | None = None
    min_severity: Literal["info", "warning", "critical"] = "warning"
    timeout: Duration = timedelta(seconds=10)

    @property
    def target(self) -> str:
        """Where this channel sends: its `url`, or PagerDuty's Events API v2."""
        return self.url or PAGERDUTY_EVENTS_URL

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value, "channel")

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        # `${WEBHOOK_SECRET:-}` with the variable unset means "unsigned", not "signed with ''".
        return value or None

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        _one_line_headers(value, _ALERT_HEADERS, "the channel itself")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        known = {t.value for t in EventType}
        for name in value or []:
            if name not in known:
                raise ValueError(
                    f"unknown event type {quoted(name)} (expected one of: {_listed(sorted(known))})"
                )
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.url is None and self.type != "pagerduty":
            raise ValueError(f"url: required for a {self.type} channel")
        if self.type == "pagerduty" and not self.routing_key:
            raise ValueError("routing_key: required for a pagerduty channel")
        if self.type != "pagerduty" and self.routing_key is not None:
            raise ValueError("routing_key: only a pagerduty channel takes one")
        if self.secret is not None and self.type != "webhook":
            raise ValueError("secret: only a webhook channel signs its requests")
        _https_unless_inside(
            self.target, " such as hooks.monitoring.svc: alerts carry what is failing"
        )
        return self


class HeartbeatConfig(Model):
    """The dead-man's switch: a URL fetched every `interval` while the monitor is healthy."""

    url: Annotated[str, AfterValidator(_ALERT_URL.check), _ALERT_URL]
    interval: Duration = timedelta(minutes=1)
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _plain_http_inside_only(self) -> Self:
        _https_unless_inside(self.url, ": the URL usually carries the check's secret")
        return self


class AlertingConfig(Model):
    """How alerts are delivered and kept quiet: the settings every channel shares."""

    # After a problem's first message (always sent at once), what follows within this window
    # is held to its end and sent as one grouped message (0s: every change at once).
    group_window: Duration = timedelta(minutes=5)
    # While a problem lasts, it is sent again this often (null: never).
    remind_every: Duration | None = timedelta(hours=4)
    # An opening still undelivered when its problem ended longer ago than this goes out only
    # folded into its resolution, rather than paging someone late.
    fold_after: Duration = timedelta(minutes=10)
    # Retries: delays double from 1 s up to this; an alert undelivered after `retry_for`
    # becomes a dead letter.
    retry_max_delay: Duration = timedelta(seconds=30)
    retry_for: Duration = timedelta(hours=1)
    # Regions serving different releases, or different certificates, for longer than this.
    drift_after: Duration | None = timedelta(minutes=30)
    # An endpoint left disabled (by regionwatch or a person) longer than this (null: never).
    disabled_too_long: Duration | None = timedelta(hours=1)
    heartbeat: HeartbeatConfig | None = None


class ApiConfig(Model):
    listen: str = "127.0.0.1:8000"
    token: str | None = None
    read_token: str | None = None
    local_region: str | None = None
    public_url: Annotated[str, AfterValidator(_PUBLIC_URL.check), _PUBLIC_URL] | None = None

    @field_validator("token", "read_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        # `${REGIONWATCH_TOKEN:-}` with the variable unset means "no token", not "the empty token".
        return value or None

    @field_validator("listen", mode="before")
    @classmethod
    def _listen(cls, value: object) -> object:
        # Before pydantic's own str check, so `listen: 18510` says what a listen value is.
        if not isinstance(value, str) or not _LISTEN.fullmatch(value):
            raise ValueError(f"expected host:port such as 127.0.0.1:8000, got {_shown(value)}")
        host, port = value.rsplit(":", 1)
        host = host.removeprefix("[").removesuffix("]")
        if int(port) > 65535 or not (_is_ip(host) or (":" not in host and _is_hostname(host))):
            raise ValueError(f"expected host:port such as 127.0.0.1:8000, got {_shown(value)}")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class PeerConfig(Model):
    """Another instance this one pulls observations from: on the decider, each observer; on
    an observer, the decider (whose `/healthz` answers it repeats)."""

    name: str  # the peer's `vantage`: its document must say the same
    url: Annotated[str, AfterValidator(_PEER_URL.check), _PEER_URL]
    token: str  # the peer's api.read_token (observations are always behind one)
    timeout: Duration = timedelta(seconds=3)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value, "vantage point")

    @field_validator("token")
    @classmethod
    def _token(cls, value: str) -> str:
        if not value:
            raise ValueError("expected the peer's api.read_token (observations need one)")
        return value

    @model_validator(mode="after")
    def _https_for_a_token(self) -> Self:
        _https_unless_inside(self.url, ": the token would cross the network in clear")
        return self


class StorageConfig(Model):
    path: FilePath = Path("regionwatch.db")
    retention: Duration = timedelta(days=30)
    audit_retention: Duration = timedelta(days=365)

    @field_validator("audit_retention")
    @classmethod
    def _audit_retention(cls, value: timedelta) -> timedelta:
        # A restart rebuilds the rate limit, the cooldown and the re-enable back-off from the
        # last day of the audit trail: a shorter retention would forget disables they count.
        if value < _MIN_AUDIT_RETENTION:
            raise ValueError(
                f"expected a duration of at least {format_duration(_MIN_AUDIT_RETENTION)} "
                "(a restart reads the last day of the audit trail), "
                f"got {format_duration(value)}"
            )
        return value


class Config(Model):
    site: Site
    regions: dict[RegionName, RegionConfig]
    tls: TlsConfig = Field(default_factory=TlsConfig)
    checks: Checks = Field(default_factory=Checks)
    traffic_manager: TrafficManagerConfig | None = None
    failover: FailoverConfig = Field(default_factory=FailoverConfig)
    deploys: DeploysConfig = Field(default_factory=DeploysConfig)
    alerts: list[AlertConfig] = Field(default_factory=list)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    vantage: str | None = None
    role: Literal["decider", "observer"] = "decider"
    peers: list[PeerConfig] = Field(default_factory=list)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    # What `${VAR}` put in, kept for `scrubbed`; private, so never serialised or shown.
    _substitutions: tuple[Substitution, ...] = PrivateAttr(default=())

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: dict[str, RegionConfig]) -> dict[str, RegionConfig]:
        if not value:
            raise ValueError("expected at least one region")
        return value

    @field_validator("alerts")
    @classmethod
    def _alerts(cls, value: list[AlertConfig]) -> list[AlertConfig]:
        _unique_names(value, "alerts")
        return value

    @field_validator("vantage")
    @classmethod
    def _vantage(cls, value: str | None) -> str | None:
        return _check_name(value, "vantage point") if value is not None else None

    def endpoint_of(self, region: str) -> str:
        """The Traffic Manager endpoint name of a region (default: the region's name)."""
        return self.regions[region].endpoint or region

    @property
    def streak_gap(self) -> timedelta:
        """The longest pause between two rounds of a region that continues a streak: a longer
        one (a stopped monitor, a stalled scheduler), whatever caused it, starts a new streak.
        Default: three intervals."""
        gap = self.failover.streak_gap
        return gap if gap is not None else 3 * self.checks.https.interval

    def requests_for(self, region: str) -> list[HttpsRequest]:
        """The HTTPS requests a region's round sends."""
        return [r for r in self.checks.https.requests if r.regions is None or region in r.regions]

    def scrubbed(self, message: str) -> str:
        """`message` with every value this configuration took from the environment written
        back as its `${NAME}`. For any error printed after loading that may quote a configured
        value, such as the store's path or the listen address."""
        return scrub(message, self._substitutions)


def _references(config: Config) -> list[ConfigProblem]:
    """Every name that points at a region must name a configured one."""
    regions = _listed(sorted(config.regions))
    problems = []

    def check(key: str, name: str | None) -> None:
        if name is not None and name not in config.regions:
            problems.append(
                ConfigProblem(key, f"unknown region {quoted(name)} (expected one of: {regions})")
            )

    check("api.local_region", config.api.local_region)
    for i, channel in enumerate(config.alerts):
        for j, name in enumerate(channel.regions or []):
            check(f"alerts[{i}].regions[{j}]", name)
    for i, request in enumerate(config.checks.https.requests):
        for j, name in enumerate(request.regions or []):
            check(f"checks.https.requests[{i}].regions[{j}]", name)
    if config.checks.dns is not None:
        for i, resolver in enumerate(config.checks.dns.resolvers):
            check(f"checks.dns.resolvers[{i}].expect_region", resolver.expect_region)
        for i, vantage in enumerate(config.checks.dns.vantage_points):
            check(f"checks.dns.vantage_points[{i}].expect_region", vantage.expect_region)
    if not problems:
        for region in config.regions:
            if not config.requests_for(region):
                problems.append(
                    ConfigProblem(
                        f"regions.{region}",
                        "no request of checks.https.requests applies to this region "
                        "(it would stay unknown forever)",
                    )
                )
    endpoints = [config.endpoint_of(r) for r in config.regions]
    for region in config.regions:
        if endpoints.count(config.endpoint_of(region)) > 1:
            problems.append(
                ConfigProblem(
                    f"regions.{region}.endpoint",
                    f"endpoint {quoted(config.endpoint_of(region))} is used by more than one "
                    "region",
                )
            )
    return problems


def _topology(config: Config) -> list[ConfigProblem]:
    """Every vantage point is one witness the decider counts: two with one name would count
    as one, a peer named like this instance as this instance itself."""
    problems = []
    if config.peers and config.vantage is None:
        problems.append(
            ConfigProblem(
                "vantage",
                "expected this instance's vantage point name when peers are set (each vantage "
                "point is a witness the decider counts)",
            )
        )
    for i, peer in enumerate(config.peers):
        if any(other.name == peer.name for other in config.peers[:i]):
            problems.append(
                ConfigProblem(f"peers[{i}].name", f"{quoted(peer.name)} is used more than once")
            )
        elif peer.name == config.vantage:
            problems.append(
                ConfigProblem(
                    f"peers[{i}].name",
                    f"{quoted(peer.name)} is this instance's own vantage point (expected "
                    "another instance's)",
                )
            )
    if config.role == "observer" and config.api.read_token is None:
        problems.append(
            ConfigProblem(
                "api.read_token",
                "expected a token on an observer (the decider pulls its observations with it; "
                "they are never served without one)",
            )
        )
    return problems


_LISTED = 20


def _listed(names: list[str]) -> str:
    """`a, b, c`: at most _LISTED names, then how many more."""
    shown = ", ".join(names[:_LISTED])
    more = len(names) - _LISTED
    return f"{shown} and {more:,} more" if more > 0 else shown


def _ca_problem(path: Path) -> str | None:
    """What is wrong with a CA bundle, checked the way the probes will load it."""
    if not path.is_file():
        return f"expected a readable file, got {quoted(str(path))}"
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError) as e:
        reason = shortened(str(getattr(e, "reason", None) or e), _LIBRARY_TEXT)
        return f"expected PEM certificates in {quoted(str(path))}: {reason}"
    return None


def _files(config: Config, base: Path) -> tuple[Config, list[ConfigProblem]]:
    """Resolve relative paths against the configuration file's folder and check CA files exist."""
    problems = []
    tls_ca = config.tls.ca_file
    if tls_ca is not None:
        tls_ca = base / tls_ca
        problem = _ca_problem(tls_ca)
        if problem:
            problems.append(ConfigProblem("tls.ca_file", problem))
    tm = config.traffic_manager
    if tm is not None and tm.ca_file is not None:
        tm_ca = base / tm.ca_file
        problem = _ca_problem(tm_ca)
        if problem:
            problems.append(ConfigProblem("traffic_manager.ca_file", problem))
        tm = tm.model_copy(update={"ca_file": tm_ca})
    storage = config.storage.model_copy(update={"path": base / config.storage.path})
    resolved = config.model_copy(
        update={"tls": TlsConfig(ca_file=tls_ca), "traffic_manager": tm, "storage": storage}
    )
    return resolved, problems


def parse_config(
    data: object,
    *,
    source: str = "<config>",
    base: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Validate already-parsed YAML. Raises ConfigError listing every problem found.

    No message shows a value that came from `${VAR}` substitution: it names the variable.
    """
    if not isinstance(data, dict):
        problem = f"expected a mapping at the top level (site:, regions: ...), got {_kind(data)}"
        raise ConfigError(source, [ConfigProblem("", problem)])
    problems: list[ConfigProblem] = []
    substitutions: list[Substitution] = []
    data = interpolate(data, os.environ if env is None else env, problems, "", substitutions)
    if problems:
        raise ConfigError(source, problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        found = [_problem(error) for error in e.errors()]
        raise ConfigError(source, redact(found, substitutions)) from None
    problems = _references(config) + _topology(config)
    config, file_problems = _files(config, base if base is not None else Path.cwd())
    problems += file_problems
    if problems:
        raise ConfigError(source, redact(problems, substitutions))
    config._substitutions = tuple(substitutions)
    return config


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a YAML configuration file.

    Raises ConfigError, whatever is wrong with the file (its encoding, its YAML, its size, a
    value); never returns half a configuration.
    """
    path = Path(path)
    data = read_yaml(path)
    return parse_config(data, source=str(path), base=path.parent, env=env)


def _problem(error: Mapping[str, Any]) -> ConfigProblem:
    loc = tuple(error["loc"])
    key = _dotted(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        expected = f" (expected one of: {', '.join(allowed)})" if allowed else ""
        return ConfigProblem(key, f"unknown key{expected}")
    if kind == "missing":
        return ConfigProblem(key, "required key is missing")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        message = "expected a whole number"
    elif kind in {"model_type", "model_attributes_type", "dict_type"}:
        message = "expected a mapping"  # not pydantic's "a valid dictionary or instance of Site"
    elif message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ")
    secret = bool(loc) and str(loc[-1]) in _SECRET_KEYS
    shown = error.get("input")
    if kind not in {"value_error", "assertion_error"} and "input" in error:
        if isinstance(shown, dict | list) or secret:
            message = f"{message[:1].lower()}{message[1:]}, got {type(shown).__name__}"
        else:
            message = f"{message[:1].lower()}{message[1:]}, got {quoted(shown)}"
    elif secret and isinstance(shown, str) and shown:
        message = message.replace(quoted(shown), "str")  # our own checks never quote these either
    # A model-level check names its own sub-key ("timeout: ..."): fold it into the path.
    sub, sep, rest = message.partition(": ")
    if kind == "value_error" and sep and re.fullmatch(r"[a-z_]+", sub):
        return ConfigProblem(f"{key}.{sub}" if key else sub, rest)
    return ConfigProblem(key, message)


def _kind(data: object) -> str:
    """What a document is, in words (it is not shown: it may be anything)."""
    if data is None:
        return "an empty file"
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return "a string"
    return "a single value"


def _dotted(loc: tuple[Any, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")) or part == "[key]":
            continue  # pydantic's internal validator names are not keys; `[key]`: the key itself
        else:
            key = f"{key}.{part}" if key else str(part)
    return key


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at `loc` accepts, found by walking the models along the path."""
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        fields = model.model_fields
        if part in fields:
            model = _inner_model(fields[part].annotation)
            if model is None:
                return []
        # otherwise `part` is a key of a mapping of models (a region's name): stay on the model
    return sorted(model.model_fields)


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside `X | None`, `list[X]` or `dict[str, X]`, if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
