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
    "alerting.heartbeat": {"alerting": {"heartbeat": {"url": "https://hc.example/ping"}}},
}


def with_key(key: str, value: object) -> str:
    """A minimal configuration with `key` set to `value` (and what its section requires)."""
    base = yaml.safe_load(MINIMAL)
    needs = [doc for prefix, doc in _REQUIRED.items() if key.startswith(prefix)]
    document = merged(base, *needs, nested(key, value))
    if key.startswith("checks.https.requests[]"):
        request = typing.cast(dict[str, typing.Any], document["checks"])["https"]["requests"][0]
        request.setdefault("name", "home")
    if key.startswith("alerts[]"):
        channel = typing.cast(list[dict[str, str]], document["alerts"])[0]
        channel.setdefault("name", "ops")
        channel.setdefault("type", "webhook")
        channel.setdefault("url", "https://h.example/x")
    if key.startswith("peers[]"):
        document["vantage"] = "us"
        peer = typing.cast(list[dict[str, str]], document["peers"])[0]
        peer.setdefault("name", "eu")
        peer.setdefault("url", "https://127.0.0.1:9")
        peer.setdefault("token", "t")
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
    assert len(DURATION_KEYS) == 25  # the walk sees them all, max_latency in a list included
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
        (
            "'1" + "0" * 400 + "s'",
            f"expected a duration of at most 3650d, got '1{'0' * 79}…' (402 characters)",
        ),
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
            "expected an https URL (plain http only on loopback or for an in-cluster "
            "name such as hooks.monitoring.svc: alerts carry what is failing)",
        )
    ]


def test_a_webhook_takes_plain_http_only_on_loopback_or_in_cluster(tmp_path: Path) -> None:
    """http:// is accepted for a webhook on 127.0.0.1 or a `.svc` name, refused on the internet."""
    inside = (
        "alerts: [{name: a, type: webhook, url: 'http://127.0.0.1:9/x'},"
        " {name: b, type: webhook, url: 'http://hooks.monitoring.svc/x'}]\n"
    )
    assert [c.url for c in load(tmp_path, MINIMAL + inside).alerts] == [
        "http://127.0.0.1:9/x",
        "http://hooks.monitoring.svc/x",
    ]
    outside = "alerts: [{name: a, type: webhook, url: 'http://hooks.example.com/x'}]\n"
    assert [key for key, _ in problems(tmp_path, MINIMAL + outside)] == ["alerts[0].url"]


def test_an_alert_channel_routes_only_known_event_types_and_regions(tmp_path: Path) -> None:
    """A misspelt event type or an unknown region in a channel's routing is refused at load."""
    text = MINIMAL + (
        "alerts: [{name: a, type: webhook, url: 'https://h.example.com/x',"
        " events: [region.falling], regions: [nowhere]}]\n"
    )
    found = problems(tmp_path, text)
    assert [key for key, _ in found] == ["alerts[0].events"]
    assert "unknown event type 'region.falling'" in found[0][1]
    text = MINIMAL + (
        "alerts: [{name: a, type: webhook, url: 'https://h.example.com/x', regions: [nowhere]}]\n"
    )
    assert [key for key, _ in problems(tmp_path, text)] == ["alerts[0].regions[0]"]


def test_a_peer_url_must_be_a_url(tmp_path: Path) -> None:
    """A peer's url that is a bare name is refused; plain http is allowed for an in-cluster
    name (the token stays inside the cluster)."""
    peer = "vantage: us\npeers: [{name: eu, url: %s, token: t0ken}]\n"
    assert problems(tmp_path, MINIMAL + peer % "observer.example") == [
        (
            "peers[0].url",
            "expected an http or https URL such as https://observer.example.com:8000 "
            "(it has no scheme)",
        )
    ]
    config = load(tmp_path, MINIMAL + peer % "'http://observer:8000'")
    assert config.peers[0].url == "http://observer:8000"


def test_a_peer_across_a_network_needs_https(tmp_path: Path) -> None:
    """The read token would cross the network in clear over http to a public name."""
    text = MINIMAL + "vantage: us\npeers: [{name: eu, url: 'http://eu.example.com', token: t}]\n"
    assert problems(tmp_path, text) == [
        (
            "peers[0].url",
            "expected an https URL (plain http only on loopback or for an in-cluster "
            "name: the token would cross the network in clear)",
        )
    ]


def test_every_vantage_point_is_one_witness(tmp_path: Path) -> None:
    """Peers need this instance's vantage name, a token each, names of their own, none this
    instance's; an observer needs a read token for its observations."""
    peer = "[{name: eu, url: 'https://127.0.0.1:9', token: t}]"
    assert problems(tmp_path, MINIMAL + f"peers: {peer}\n") == [
        (
            "vantage",
            "expected this instance's vantage point name when peers are set (each vantage "
            "point is a witness the decider counts)",
        )
    ]
    assert problems(tmp_path, MINIMAL + f"vantage: eu\npeers: {peer}\n") == [
        (
            "peers[0].name",
            "'eu' is this instance's own vantage point (expected another instance's)",
        )
    ]
    twice = "[{name: eu, url: 'https://127.0.0.1:9', token: t}, {name: eu, url: 'https://127.0.0.2:9', token: t}]"
    assert [key for key, _ in problems(tmp_path, MINIMAL + f"vantage: us\npeers: {twice}\n")] == [
        "peers[1].name"
    ]
    untokened = "[{name: eu, url: 'https://127.0.0.1:9'}]"
    assert problems(tmp_path, MINIMAL + f"vantage: us\npeers: {untokened}\n") == [
        ("peers[0].token", "required key is missing")
    ]
    assert problems(tmp_path, MINIMAL + "role: observer\n") == [
        (
            "api.read_token",
            "expected a token on an observer (the decider pulls its observations with it; "
            "they are never served without one)",
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


# --- values that passed at load and misbehaved later ------------------------------------------


@pytest.mark.parametrize("key", ["resource_manager_url", "authority_host"])
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/?sig=ARMSIG77", "it has a query string (?...); give the scheme, host, "
         "port and path only"),
        ("https://127.0.0.1/arm?", "it has a query string (?...); give the scheme, host, port "
         "and path only"),
        ("https://127.0.0.1/#top", "it has a fragment (#...); give the scheme, host, port and "
         "path only"),
        ("https://u:p@127.0.0.1", "it has a user name or password; credentials come from "
         "azure-identity, never the URL"),
    ],
    ids=["query", "empty-query", "fragment", "userinfo"],
)  # fmt: skip
def test_azure_base_urls_refuse_a_query_a_fragment_and_credentials(
    tmp_path: Path, key: str, url: str, why: str
) -> None:
    """The SDK appends `/subscriptions/...` to these: a query once swallowed the path
    (`GET /?sig=ARMSIG77/subscriptions/...`) and a user name gave a misleading 401."""
    example = {
        "resource_manager_url": "https://management.azure.com",
        "authority_host": "https://login.microsoftonline.com",
    }[key]
    assert problems(tmp_path, MINIMAL + TM + f"{key}: '{url}'}}\n") == [
        (f"traffic_manager.{key}", f"expected an https URL such as {example} ({why})")
    ]


def test_azure_base_urls_may_have_a_port_and_a_path_prefix(tmp_path: Path) -> None:
    """A base under a path (a proxy's `/arm`) is still a base the SDK can append to."""
    text = (
        MINIMAL
        + TM
        + (
            "resource_manager_url: 'https://127.0.0.1:8443/arm', "
            "authority_host: 'https://127.0.0.1:8443/'}\n"
        )
    )
    tm = load(tmp_path, text).traffic_manager
    assert tm is not None
    assert (tm.resource_manager_url, tm.authority_host) == (
        "https://127.0.0.1:8443/arm",
        "https://127.0.0.1:8443/",
    )


@pytest.mark.parametrize(
    ("key", "section"),
    [
        ("checks.https.interval", "checks: {https: {interval: D, timeout: D}}"),
        ("checks.dns.interval", "checks: {dns: {interval: D, timeout: D}}"),
        ("traffic_manager.interval", TM + "interval: D}"),
    ],
)
def test_an_interval_below_one_second_is_refused(tmp_path: Path, key: str, section: str) -> None:
    """`1ms` would hammer the regions, the resolvers or Resource Manager; 1s loads."""
    assert problems(tmp_path, MINIMAL + section.replace("D", "1ms") + "\n") == [
        (key, "expected a duration of at least 1s, got 1ms")
    ]
    load(tmp_path, MINIMAL + section.replace("D", "1s") + "\n")


def test_a_dns_timeout_above_the_dns_interval_is_refused(tmp_path: Path) -> None:
    """As for HTTPS: a query may not outlast the interval; the message says which side is the
    default and which key sets it."""
    assert problems(tmp_path, MINIMAL + "checks: {dns: {interval: 2s}}\n") == [
        (
            "checks.dns.timeout",
            "expected at most the interval (2s), got 3s (the default; set checks.dns.timeout)",
        )
    ]
    assert problems(tmp_path, MINIMAL + "checks: {dns: {timeout: 45s}}\n") == [
        (
            "checks.dns.timeout",
            "expected at most the interval (30s, the default; set checks.dns.interval), got 45s",
        )
    ]
    config = load(tmp_path, MINIMAL + "checks: {dns: {interval: 2s, timeout: 2s}}\n")
    assert config.checks.dns is not None


def test_two_resolvers_or_vantage_points_of_one_name_are_refused(tmp_path: Path) -> None:
    """DNS answers are keyed by resolver and vantage point name: two of one name would
    overwrite each other's findings."""
    resolvers = (
        "resolvers: [{name: eu, address: 127.0.0.1}, {name: eu, address: 127.0.0.2, port: 5353}]"
    )
    assert problems(tmp_path, MINIMAL + f"checks: {{dns: {{{resolvers}}}}}\n") == [
        ("checks.dns.resolvers", "the name 'eu' is used more than once")
    ]
    vantage = (
        "vantage_points: [{name: gb, client_subnet: 81.2.69.0/24}, "
        "{name: gb, client_subnet: 81.2.70.0/24}]"
    )
    assert problems(tmp_path, MINIMAL + f"checks: {{dns: {{{vantage}}}}}\n") == [
        ("checks.dns.vantage_points", "the name 'gb' is used more than once")
    ]


@pytest.mark.parametrize("header", ["bad header", "X-Release:", "", "Ünicode"])
def test_the_version_header_must_be_a_header_name(tmp_path: Path, header: str) -> None:
    """A name no response can carry would leave the release unknown forever."""
    assert problems(tmp_path, MINIMAL + f"deploys: {{version_header: '{header}'}}\n") == [
        (
            "deploys.version_header",
            "expected an HTTP header name (letters, digits and !#$%&'*+-.^_`|~, no spaces or "
            f"colons), got {header!r}",
        )
    ]


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("0.0.0.0", "the unspecified address means any address of this machine, not a host"),  # noqa: S104
        ("::", "the unspecified address means any address of this machine, not a host"),
        ("::ffff:0.0.0.0", "the unspecified address means any address of this machine, not a "
         "host"),
        ("255.255.255.255", "the broadcast address means every host on the local network"),
        ("224.0.0.1", "a multicast address names a group of hosts, not one"),
        ("ff02::1", "a multicast address names a group of hosts, not one"),
    ],
)  # fmt: skip
def test_a_region_address_must_name_one_host(tmp_path: Path, address: str, why: str) -> None:
    """Unspecified, broadcast and multicast addresses were accepted and failed every probe."""
    text = SITE + f"regions: {{westeurope: {{address: '{address}'}}}}\n"
    assert problems(tmp_path, text) == [
        (
            "regions.westeurope.address",
            f"expected the address of one host, got {address!r} ({why})",
        )
    ]


def test_max_body_is_at_most_16_mib(tmp_path: Path) -> None:
    """100 TB once passed: the bound is 16 MiB, which loads."""
    assert problems(tmp_path, MINIMAL + "checks: {https: {max_body: 100000000000000}}\n") == [
        ("checks.https.max_body", "expected less than or equal to 16777216, got 100000000000000")
    ]
    config = load(tmp_path, MINIMAL + "checks: {https: {max_body: 16777216}}\n")
    assert config.checks.https.max_body == 16 * 1024 * 1024


@pytest.mark.parametrize("key", ["subscription_id", "resource_group", "profile"])
@pytest.mark.parametrize("value", ["", "rg/other", "my group", "rg\t", "rg\n"])
def test_arm_names_are_one_path_segment(tmp_path: Path, key: str, value: str) -> None:
    """Empty, or with a slash or a space, the name would break the Resource Manager path."""
    section = {"subscription_id": "s", "resource_group": "g", "profile": "p", key: value}
    text = MINIMAL + yaml.safe_dump({"traffic_manager": section})
    assert problems(tmp_path, text) == [
        (
            f"traffic_manager.{key}",
            "expected a name that is not empty and has no / and no spaces (it goes into the "
            f"Azure Resource Manager path), got {value!r}",
        )
    ]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('site: {hostname: "blog.example.com\\n"}\nregions: {westeurope: {address: 20.1.2.3}}',
         "site.hostname"),
        ('site: {hostname: blog.example.com}\nregions: {"westeurope\\n": {address: 20.1.2.3}}',
         "regions.westeurope\n"),
        ('site: {hostname: blog.example.com}\nregions: {westeurope: {address: "20.1.2.3\\n"}}',
         "regions.westeurope.address"),
        (MINIMAL + 'checks: {https: {requests: [{name: "home\\n"}]}}', "checks.https.requests[0].name"),
        (MINIMAL + 'checks: {https: {requests: [{name: home, headers: {"X-A\\n": v}}]}}',
         "checks.https.requests[0].headers"),
        (MINIMAL + 'deploys: {version_header: "X-Release\\n"}', "deploys.version_header"),
    ],
    ids=["hostname", "region", "address", "request", "header", "version-header"],
)  # fmt: skip
def test_a_trailing_newline_is_refused_in_names(tmp_path: Path, text: str, key: str) -> None:
    """A pattern's `$` also matches before a final newline: `home` and a newline once passed
    as a name, a hostname or a header name, and failed on the wire."""
    assert [where for where, _ in problems(tmp_path, text + "\n")] == [key]


# --- long values in messages -----------------------------------------------------------------

LONG = "x" * 100_000
CUT = f"'{'x' * 80}…' (100,000 characters)"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (f"site: {{hostname: {LONG}}}\nregions: {{westeurope: {{address: 20.1.2.3}}}}\n",
         "site.hostname", f"expected a DNS hostname such as blog.example.com, got {CUT}"),
        (SITE + f"regions: {{westeurope: {{address: 'x {LONG}'}}}}\n",
         "regions.westeurope.address",
         f"expected an IP address or a hostname, got 'x {'x' * 78}…' (100,002 characters)"),
        (MINIMAL + f"failover: {{mode: {LONG}}}\n",
         "failover.mode", f"expected 'off', 'dry-run' or 'enforce', got {CUT}"),
        (MINIMAL + f"storage: {{retention: {LONG}}}\n",
         "storage.retention", f"expected a duration such as 10s, 5m or 1h, got {CUT}"),
        (MINIMAL + f"api: {{listen: {LONG}}}\n",
         "api.listen", f"expected host:port such as 127.0.0.1:8000, got {CUT}"),
        (MINIMAL + f"api: {{local_region: {LONG}}}\n",
         "api.local_region", f"unknown region {CUT} (expected one of: westeurope)"),
        (MINIMAL + f"checks: {{https: {{requests: [{{name: home, path: {LONG}}}]}}}}\n",
         "checks.https.requests[0].path",
         f"expected a path starting with / and without spaces, got {CUT}"),
        (MINIMAL + f"checks: {{dns: {{vantage_points: [{{name: v, client_subnet: {LONG}}}]}}}}\n",
         "checks.dns.vantage_points[0].client_subnet",
         f"expected a network such as 81.2.69.0/24: {CUT} does not appear to be an IPv4 or IPv6 "
         "network"),
        (MINIMAL + "checks: {https: {requests: [{name: home, expect: {body_regex: "
         f"'(?P={LONG})'}}}}]}}}}\n",
         "checks.https.requests[0].expect.body_regex",
         f"expected a regular expression: unknown group name '{'x' * 180}… (100,035 characters)"),
    ],
    ids=["hostname", "address", "choice", "duration", "listen", "reference", "path", "subnet",
         "regex"],
)  # fmt: skip
def test_a_long_value_is_quoted_cut_with_its_length(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    """A 100,000-character value once made a 100,000-character error line: every stage shows
    its first 80 characters and its length (a library's message, its first 200)."""
    assert problems(tmp_path, text) == [(key, message)]


def test_only_the_first_50_problems_are_printed_then_how_many_more(tmp_path: Path) -> None:
    """One long wrong path shared by 200 requests through an alias once printed 200 lines of
    4,000 characters; now 50 short lines, then how many more (all 200 are still in `problems`)."""
    requests = [f"{{name: r{i}, path: *p}}" for i in range(1, 200)]
    text = MINIMAL + (
        f"checks: {{https: {{requests: [{{name: r0, path: &p '{'x' * 4000}'}}, "
        f"{', '.join(requests)}]}}}}\n"
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert len(caught.value.problems) == 200
    lines = str(caught.value).replace(str(path), "FILE").splitlines()
    assert len(lines) == 51
    assert lines[49] == (
        "FILE: checks.https.requests[49].path: expected a path starting with / and without "
        f"spaces, got '{'x' * 80}…' (4,000 characters)"
    )
    assert lines[50] == "FILE: and 150 more problems"


def test_a_long_or_multiline_key_is_cut_and_quoted_in_the_error_line(tmp_path: Path) -> None:
    """A key may be any YAML string: a long one is cut in the printed key path, and one with a
    newline is quoted, so each problem stays one short line."""
    text = (
        SITE + f'regions: {{{"a" * 1000}: {{address: 20.1.2.3}}, "we\\n": {{address: 1.2.3.4}}}}\n'
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    cut = f"{'a' * 80}… (1,000 characters)"
    quoted_cut = f"'{'a' * 80}…' (1,000 characters)"
    assert str(caught.value).replace(str(path), "FILE").splitlines() == [
        f"FILE: regions.{cut}: expected a region name of lowercase letters, digits and dashes, "
        f"got {quoted_cut}",
        "FILE: regions.'we\\n': expected a region name of lowercase letters, digits and dashes, "
        "got 'we\\n'",
    ]


def test_a_long_name_in_a_yaml_error_is_cut(tmp_path: Path) -> None:
    """PyYAML quotes an undefined alias's name whatever its length: its message is cut."""
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL + f"vantage: *{'a' * 5000}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    message = f"found undefined alias '{'a' * 177}… (5,024 characters)"
    assert str(caught.value) == f"{path}: line 3, column 10: invalid YAML: {message}"
