"""Values refused at load that used to pass and fail later (a traceback, a stuck /readyz, an
InvalidURL on every query), each with the exact message naming the key and what was expected."""

from __future__ import annotations

import typing
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from configkeys import annotation_metadata, model_keys
from pydantic.fields import FieldInfo

from monitor.config import Config, UrlRule, load_config
from monitor.durations import parse_duration
from monitor.errors import ConfigError

SITE = "site: {hostname: blog.example.com}\n"
MINIMAL = SITE + "regions: {westeurope: {address: 20.1.2.3}}\n"
TM = "traffic_manager: {subscription_id: s, resource_group: g, profile: p, "


def load(folder: Path, text: str, env: dict[str, str] | None = None) -> Config:
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env=env or {})


def problems(folder: Path, text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load(folder, text)
    return [(p.key, p.message) for p in caught.value.problems]


def nested(key: str, value: object) -> dict[str, object]:
    """`{'a': {'b': value}}` for `a.b`, with one item for `[]` and a name for `<name>`."""
    document: object = value
    for part in reversed(key.replace("[]", ".[]").split(".")):
        if part == "[]":
            document = [document]
        elif part == "<name>":
            document = {"westeurope": document}
        else:
            document = {part: document}
    return typing.cast(dict[str, object], document)


def merged(*documents: dict[str, object]) -> dict[str, object]:
    result: dict[str, object] = {}
    for document in documents:
        for key, value in document.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(typing.cast(dict[str, object], result[key]), value)
            else:
                result[key] = value
    return result


# What each section needs to load, so a test can set one key of it alone.
_REQUIRED: dict[str, dict[str, object]] = {
    "checks.https.requests[]": {"checks": {"https": {"requests": [{"name": "home"}]}}},
    "checks.dns.resolvers[]": {"checks": {"dns": {"resolvers": [{"name": "r"}]}}},
    "traffic_manager": {
        "traffic_manager": {"subscription_id": "s", "resource_group": "g", "profile": "p"}
    },
    "alerts[]": {"alerts": [{"name": "ops", "type": "webhook", "url": "https://h.example/x"}]},
    "peers[]": {"peers": [{"name": "o", "url": "https://o.example"}]},
}


def with_key(key: str, value: object) -> str:
    """A minimal configuration with `key` set to `value` (and what its section requires)."""
    base = yaml.safe_load(MINIMAL)
    needs = [doc for prefix, doc in _REQUIRED.items() if key.startswith(prefix)]
    document = merged(base, *needs, nested(key, value))
    if key.startswith("checks.https.requests[]"):
        request = typing.cast(dict[str, typing.Any], document["checks"])["https"]["requests"][0]
        request.setdefault("name", "home")
    return yaml.safe_dump(document, sort_keys=False)


def is_duration(field: FieldInfo) -> bool:
    return any(getattr(m, "func", None) is parse_duration for m in annotation_metadata(field))


def url_rule(field: FieldInfo) -> UrlRule | None:
    return next((m for m in annotation_metadata(field) if isinstance(m, UrlRule)), None)


DURATION_KEYS = [key for key, field in model_keys() if is_duration(field)]


# --- durations: overflow, infinity, NaN ------------------------------------------------------


@pytest.mark.parametrize("key", DURATION_KEYS)
def test_a_duration_beyond_the_range_is_refused_at_every_key(tmp_path: Path, key: str) -> None:
    """`9999999999d` once raised OverflowError (exit 1, a traceback); every duration key now
    says the largest it accepts."""
    assert len(DURATION_KEYS) == 12  # the walk sees them all, max_latency in a list included
    [(where, message)] = problems(tmp_path, with_key(key, "9999999999d"))
    assert where == key.replace("[]", "[0]").replace("<name>", "westeurope")
    assert message == "expected a duration of at most 3650d, got '9999999999d'"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (".inf", "expected a duration of at most 3650d, got inf"),
        ("1.0e+400", "expected a duration of at most 3650d, got inf"),
        (".nan", "expected a duration such as 10s, 5m or 1h, got nan"),
        ("1" + "0" * 40, f"expected a duration of at most 3650d, got 1{'0' * 40}"),
        ("'1" + "0" * 400 + "s'", f"expected a duration of at most 3650d, got '1{'0' * 400}s'"),
    ],
    ids=["inf", "float-overflow", "nan", "huge-int", "huge-digits"],
)
def test_infinite_nan_and_huge_durations_are_refused(
    tmp_path: Path, written: str, message: str
) -> None:
    """YAML's .inf and .nan, and numbers past float's range, are refused with the key named."""
    text = MINIMAL + f"storage: {{retention: {written}}}\n"
    assert problems(tmp_path, text) == [("storage.retention", message)]


def test_the_range_ends_at_3650d_inclusive(tmp_path: Path) -> None:
    """3650d itself is a valid retention (ten years); a millisecond more is refused."""
    config = load(tmp_path, MINIMAL + "storage: {retention: 3650d}\n")
    assert config.storage.retention == timedelta(days=3650)
    assert problems(tmp_path, MINIMAL + "storage: {retention: 3650d1ms}\n") == [
        ("storage.retention", "expected a duration of at most 3650d, got '3650d1ms'")
    ]


# --- addresses and hostnames -----------------------------------------------------------------


def test_an_address_that_is_no_ipv4_address_is_not_taken_for_a_hostname(tmp_path: Path) -> None:
    """`999.1.1.1` once passed as a hostname and failed on every probe."""
    text = SITE + "regions: {westeurope: {address: 999.1.1.1}}\n"
    assert problems(tmp_path, text) == [
        (
            "regions.westeurope.address",
            "expected an IP address or a hostname, got '999.1.1.1' (an IPv4 address is four "
            "numbers from 0 to 255, and a name cannot end in a number)",
        )
    ]


def test_the_site_hostname_cannot_end_in_a_number(tmp_path: Path) -> None:
    """The same rule for site.hostname: `blog.example.1` is no DNS name."""
    assert problems(tmp_path, "site: {hostname: blog.example.1}\nregions: {w: {address: 1.2.3.4}}")[
        0
    ] == (
        "site.hostname",
        "expected a DNS hostname such as blog.example.com, got 'blog.example.1' (an IPv4 address "
        "is four numbers from 0 to 255, and a name cannot end in a number)",
    )


def test_a_dot_tls_hostname_must_be_a_hostname(tmp_path: Path) -> None:
    """A DoT resolver's tls_hostname is checked at load, not at the first handshake."""
    text = MINIMAL + (
        "checks: {dns: {resolvers: [{name: q, protocol: dot, address: 9.9.9.9, "
        "tls_hostname: 'dns quad9 net'}]}}\n"
    )
    assert problems(tmp_path, text) == [
        (
            "checks.dns.resolvers[0].tls_hostname",
            "expected an IP address or a hostname, got 'dns quad9 net'",
        )
    ]


# --- URLs ------------------------------------------------------------------------------------

DOH = "expected an https URL such as https://1.1.1.1/dns-query"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://1.1.1.1/dns-query", "its scheme is http"),
        ("https://[::1/dns-query", "it is malformed: Invalid IPv6 URL"),
        ("1.1.1.1/dns-query", "it has no scheme"),
        ("https:///dns-query", "it has no host"),
        ("https://1.1.1.1:99999/dns-query", "it is malformed: its port is not a number from 1 to 65535"),
        ("https://1.1.1.1:0/dns-query", "its port is 0"),
        ("https://dns .example/dns-query", "it is empty or has spaces or control characters"),
        ("https://999.1.1.1/dns-query", "its host is not an IP address or a hostname (an IPv4 "
         "address is four numbers from 0 to 255, and a name cannot end in a number)"),
    ],
    ids=["http", "bracket", "no-scheme", "no-host", "port", "port-0", "space", "bad-ip"],
)  # fmt: skip
def test_a_doh_url_must_be_a_well_formed_https_url(tmp_path: Path, url: str, why: str) -> None:
    """A DoH URL that is not https, or is malformed (once an InvalidURL traceback on every
    query), is refused at load with the reason and without quoting the URL."""
    text = (
        MINIMAL + f"checks: {{dns: {{resolvers: [{{name: cf, protocol: doh, url: '{url}'}}]}}}}\n"
    )
    assert problems(tmp_path, text) == [("checks.dns.resolvers[0].url", f"{DOH} ({why})")]


@pytest.mark.parametrize(
    ("value", "why"),
    [("management.azure.com", "it has no scheme"), ("http://127.0.0.1:8443", "its scheme is http")],
)
def test_resource_manager_url_must_be_an_https_url(tmp_path: Path, value: str, why: str) -> None:
    """The SDK sends a bearer token there: only https, checked at load."""
    text = MINIMAL + TM + f"resource_manager_url: '{value}'}}\n"
    assert problems(tmp_path, text) == [
        (
            "traffic_manager.resource_manager_url",
            f"expected an https URL such as https://management.azure.com ({why})",
        )
    ]


def test_authority_host_is_an_https_url_or_a_bare_hostname(tmp_path: Path) -> None:
    """azure-identity takes `login.microsoftonline.com` as https; `http://` would carry the
    client secret in clear, and is refused."""
    config = load(tmp_path, MINIMAL + TM + "authority_host: login.microsoftonline.com}\n")
    assert config.traffic_manager is not None
    assert config.traffic_manager.authority_host == "login.microsoftonline.com"
    text = MINIMAL + TM + "authority_host: 'http://login.example.com'}\n"
    assert problems(tmp_path, text) == [
        (
            "traffic_manager.authority_host",
            "expected an https URL such as https://login.microsoftonline.com (its scheme is http)",
        )
    ]


def test_an_alert_url_must_be_https(tmp_path: Path) -> None:
    """Alert URLs carry their own credential (Slack, Teams): https only."""
    text = MINIMAL + "alerts: [{name: ops, type: slack, url: 'http://hooks.slack.com/x'}]\n"
    assert problems(tmp_path, text) == [
        (
            "alerts[0].url",
            "expected an https URL such as https://hooks.example.com/regionwatch "
            "(its scheme is http)",
        )
    ]


def test_a_peer_url_must_be_a_url(tmp_path: Path) -> None:
    """A peer's url that is a bare name is refused; http is allowed without a token."""
    assert problems(tmp_path, MINIMAL + "peers: [{name: eu, url: observer}]\n") == [
        (
            "peers[0].url",
            "expected an http or https URL such as https://observer.example.com:8000 "
            "(it has no scheme)",
        )
    ]
    config = load(tmp_path, MINIMAL + "peers: [{name: eu, url: 'http://observer:8000'}]\n")
    assert config.peers[0].url == "http://observer:8000"


def test_a_peer_with_a_token_needs_https(tmp_path: Path) -> None:
    """The token would cross the network in clear over http."""
    text = MINIMAL + "peers: [{name: eu, url: 'http://observer:8000', token: t0ken}]\n"
    assert problems(tmp_path, text) == [
        (
            "peers[0].url",
            "expected an https URL when token is set (the token would cross the network in clear)",
        )
    ]


def test_every_url_key_has_a_rule() -> None:
    """Every key whose value is a URL is checked by a UrlRule (a new one must choose its schemes)."""
    unchecked = [
        key
        for key, field in model_keys()
        if (key.endswith("url") or key.endswith("authority_host")) and url_rule(field) is None
    ]
    assert unchecked == []


# --- timing keys -----------------------------------------------------------------------------


def test_jitter_longer_than_the_interval_is_refused(tmp_path: Path) -> None:
    """A 20s jitter on the default 10s interval once left a region without a round for 20s and
    /readyz at 503; the message says the interval is the default and where to set it."""
    assert problems(tmp_path, MINIMAL + "checks: {https: {jitter: 20s}}\n") == [
        (
            "checks.https.jitter",
            "expected less than the interval (10s, the default; set checks.https.interval), "
            "got 20s",
        )
    ]


def test_jitter_equal_to_the_interval_is_refused_and_below_it_accepted(tmp_path: Path) -> None:
    """The bound is strict: a round may not start as late as the next one is due."""
    text = MINIMAL + "checks: {https: {interval: 30s, jitter: 30s}}\n"
    assert problems(tmp_path, text) == [
        ("checks.https.jitter", "expected less than the interval (30s), got 30s")
    ]
    config = load(tmp_path, MINIMAL + "checks: {https: {interval: 30s, jitter: 29s}}\n")
    assert config.checks.https.effective_jitter == timedelta(seconds=29)


def test_a_default_timeout_above_the_interval_says_it_is_the_default(tmp_path: Path) -> None:
    """`interval: 2s` alone: the 5s the message shows is the default, and it says which key to set."""
    assert problems(tmp_path, MINIMAL + "checks: {https: {interval: 2s}}\n") == [
        (
            "checks.https.timeout",
            "expected at most the interval (2s), got 5s (the default; set checks.https.timeout)",
        )
    ]


def test_a_timeout_above_the_default_interval_says_the_interval_is_the_default(
    tmp_path: Path,
) -> None:
    """`timeout: 30s` alone: the interval it exceeds is the default 10s."""
    assert problems(tmp_path, MINIMAL + "checks: {https: {timeout: 30s}}\n") == [
        (
            "checks.https.timeout",
            "expected at most the interval (10s, the default; set checks.https.interval), got 30s",
        )
    ]


def test_a_negative_min_cert_days_is_refused_like_min_days_left(tmp_path: Path) -> None:
    """expect.min_cert_days follows certificate.min_days_left: not negative."""
    text = MINIMAL + "checks: {https: {requests: [{name: home, expect: {min_cert_days: -30}}]}}\n"
    assert problems(tmp_path, text) == [
        (
            "checks.https.requests[0].expect.min_cert_days",
            "expected greater than or equal to 0, got -30",
        )
    ]


# --- api.listen in every shape ---------------------------------------------------------------


LISTEN_WRONG = {
    "18510": "18510",
    "'18510'": "'18510'",
    "1:30": "90",  # YAML 1.1 reads it in base 60
    "null": "None",
    "[127.0.0.1, 8000]": "a list",
    "{host: 127.0.0.1}": "a mapping",
    "'127.0.0.1'": "'127.0.0.1'",
    "'127.0.0.1:'": "'127.0.0.1:'",
    "':8000'": "':8000'",
    "'::1:8000'": "'::1:8000'",
    "'127.0.0.1:99999'": "'127.0.0.1:99999'",
    "'999.1.1.1:8000'": "'999.1.1.1:8000'",
    "'local host:8000'": "'local host:8000'",
    "'[localhost]:8000'": "'[localhost]:8000'",
}
LISTEN_RIGHT = {"'[::1]:8000'": ("::1", 8000), "localhost:0": ("localhost", 0)}


def test_every_wrong_shape_of_listen_says_host_port(tmp_path: Path) -> None:
    """An integer, a list, a mapping, null, a missing port or host, an unbracketed IPv6
    address: each says what a listen value is, never pydantic's `a valid string`; the right
    shapes (bracketed IPv6, a name, port 0 for any free port) still load."""
    wrong = {}
    for written, got in LISTEN_WRONG.items():
        found = problems(tmp_path, MINIMAL + f"api: {{listen: {written}}}\n")
        expected = [("api.listen", f"expected host:port such as 127.0.0.1:8000, got {got}")]
        if found != expected:
            wrong[written] = found
    assert wrong == {}
    for written, (host, port) in LISTEN_RIGHT.items():
        api = load(tmp_path, MINIMAL + f"api: {{listen: {written}}}\n").api
        assert (api.host, api.port) == (host, port)


def test_a_path_with_a_nul_character_is_refused(tmp_path: Path) -> None:
    """A NUL in storage.path would fail when the store opens; it fails at load instead."""
    assert problems(tmp_path, MINIMAL + 'storage: {path: "a\\0b.db"}\n') == [
        ("storage.path", "expected a file path, got one with a NUL character")
    ]


@pytest.mark.parametrize(
    ("pattern", "why"),
    [("(" * 1000 + ")" * 1000, "nested too deeply"), ("a{99999999999}", "the repetition number is too large")],
)  # fmt: skip
def test_a_regex_python_cannot_compile_is_a_configuration_error(
    tmp_path: Path, pattern: str, why: str
) -> None:
    """RecursionError and OverflowError from re.compile are refused like re.error."""
    text = (
        MINIMAL
        + f"checks: {{https: {{requests: [{{name: home, expect: {{body_regex: '{pattern}'}}}}]}}}}\n"
    )
    assert problems(tmp_path, text) == [
        ("checks.https.requests[0].expect.body_regex", f"expected a regular expression: {why}")
    ]
