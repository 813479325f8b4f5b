"""Configuration loading: one test per validation rule, each holding the exact message."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
import trustme

from monitor.config import Config, load_config, parse_config
from monitor.errors import ConfigError

PEM = trustme.CA().cert_pem.bytes()

SITE = """\
site:
  hostname: blog.example.com
"""
REGIONS = """\
regions:
  westeurope:
    address: 20.1.2.3
  centralus:
    address: 52.165.160.200
"""
MINIMAL = SITE + REGIONS
ALLOWED_REGIONS = "(expected one of: centralus, westeurope)"


def write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(folder: Path, text: str, env: dict[str, str] | None = None) -> Config:
    return load_config(write(folder, text), env=env or {})


def failure(folder: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(folder, text, env)
    return caught.value


def problems(folder: Path, text: str, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    return [(p.key, p.message) for p in failure(folder, text, env).problems]


# --- a valid configuration ---------------------------------------------------------------


def test_minimal_configuration_loads_with_the_defaults(tmp_path: Path) -> None:
    """site.hostname and regions are enough; the rest takes its documented default."""
    config = load(tmp_path, MINIMAL)
    assert config.site.hostname == "blog.example.com"
    assert config.regions["westeurope"].port == 443
    assert config.regions["westeurope"].http_port == 80
    assert config.endpoint_of("centralus") == "centralus"
    assert config.checks.https.interval == timedelta(seconds=10)
    assert config.checks.https.timeout == timedelta(seconds=5)
    assert [r.name for r in config.checks.https.requests] == ["home"]
    assert config.checks.https.requests[0].expect.status == [200]
    assert config.checks.https.requests[0].expect.fresh_cache == ["STALE"]
    assert config.failover.mode == "dry-run"
    assert config.checks.dns is None
    assert config.traffic_manager is None


# --- unknown and missing keys, wrong types ------------------------------------------------


def test_unknown_top_level_key_lists_the_accepted_keys(tmp_path: Path) -> None:
    """A misspelt section is an error naming every top-level key."""
    path = write(tmp_path, MINIMAL + "storge:\n  path: x.db\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == (
        f"{path}: storge: unknown key (expected one of: alerting, alerts, api, checks, deploys, failover, "
        "peers, regions, role, site, storage, tls, traffic_manager, vantage)"
    )


def test_unknown_key_in_a_region_lists_the_region_keys(tmp_path: Path) -> None:
    """A misspelt key under regions.<name> names the region and the keys a region accepts."""
    text = SITE + "regions:\n  westeurope:\n    adress: 20.1.2.3\n"
    assert problems(tmp_path, text) == [
        ("regions.westeurope.address", "required key is missing"),
        (
            "regions.westeurope.adress",
            "unknown key (expected one of: address, endpoint, http_port, port)",
        ),
    ]


def test_unknown_key_in_a_list_item_lists_the_keys_of_its_section(tmp_path: Path) -> None:
    """A misspelt expectation names the request's index and every expectation key."""
    text = (
        MINIMAL
        + """\
checks:
  https:
    requests:
      - name: home
        expect: {statuss: [200]}
"""
    )
    assert problems(tmp_path, text) == [
        (
            "checks.https.requests[0].expect.statuss",
            "unknown key (expected one of: body_contains, body_regex, fresh_cache, "
            "headers_absent, headers_present, max_latency, min_cert_days, redirect_to_https, "
            "status)",
        )
    ]


def test_missing_site_hostname_is_named(tmp_path: Path) -> None:
    """A site without hostname says the key is missing."""
    assert problems(tmp_path, "site: {}\n" + REGIONS) == [
        ("site.hostname", "required key is missing")
    ]


def test_missing_regions_is_named(tmp_path: Path) -> None:
    """A configuration without regions says the key is missing."""
    assert problems(tmp_path, SITE) == [("regions", "required key is missing")]


def test_port_that_is_not_a_number_is_rejected(tmp_path: Path) -> None:
    """A port must be a whole number, and the message shows what was given."""
    text = SITE + "regions:\n  westeurope: {address: 20.1.2.3, port: https}\n"
    assert problems(tmp_path, text) == [
        ("regions.westeurope.port", "expected a whole number, got 'https'")
    ]


def test_port_out_of_range_is_rejected(tmp_path: Path) -> None:
    """A port above 65535 names the bound."""
    text = SITE + "regions:\n  westeurope: {address: 20.1.2.3, port: 70000}\n"
    assert problems(tmp_path, text) == [
        ("regions.westeurope.port", "expected less than or equal to 65535, got 70000")
    ]


def test_section_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    """A section written as a scalar says a mapping was expected."""
    assert problems(tmp_path, "site: blog.example.com\n" + REGIONS) == [
        ("site", "expected a mapping, got 'blog.example.com'")
    ]


def test_value_outside_its_choices_lists_the_choices(tmp_path: Path) -> None:
    """An enumerated key lists the values it accepts."""
    assert problems(tmp_path, MINIMAL + "failover: {mode: on}\n") == [
        ("failover.mode", "expected 'off', 'dry-run' or 'enforce', got 'on'")
    ]


def test_off_is_a_word_and_yes_still_a_boolean(tmp_path: Path) -> None:
    """Unquoted off is the documented choice, not YAML 1.1's false; yes still means true."""
    text = (
        MINIMAL
        + """\
failover: {mode: off}
checks:
  https:
    requests:
      - {name: https-redirect, scheme: http, bypass_cache: off, expect: {redirect_to_https: yes}}
"""
    )
    config = load(tmp_path, text)
    request = config.checks.https.requests[0]
    assert (config.failover.mode, request.bypass_cache) == ("off", "off")
    assert request.expect.redirect_to_https is True


# --- value rules ---------------------------------------------------------------------------


def test_bad_duration_shows_the_accepted_forms(tmp_path: Path) -> None:
    """A duration that does not parse shows examples of ones that do."""
    assert problems(tmp_path, MINIMAL + "checks:\n  https:\n    interval: 10 seconds\n") == [
        ("checks.https.interval", "expected a duration such as 10s, 5m or 1h, got '10 seconds'")
    ]


def test_negative_duration_is_rejected(tmp_path: Path) -> None:
    """A negative number of seconds is not a duration."""
    assert problems(tmp_path, MINIMAL + "storage: {retention: -5}\n") == [
        ("storage.retention", "expected a duration that is not negative, got -5")
    ]


def test_zero_interval_is_rejected(tmp_path: Path) -> None:
    """Rounds need an interval of at least a second."""
    assert problems(tmp_path, MINIMAL + "checks:\n  https:\n    interval: 0s\n") == [
        ("checks.https.interval", "expected a duration of at least 1s, got 0s")
    ]


def test_timeout_above_interval_is_rejected(tmp_path: Path) -> None:
    """A timeout longer than the interval would let rounds overlap."""
    text = MINIMAL + "checks:\n  https:\n    interval: 10s\n    timeout: 1m30s\n"
    assert problems(tmp_path, text) == [
        ("checks.https.timeout", "expected at most the interval (10s), got 1m30s")
    ]


def test_duplicate_request_name_is_rejected(tmp_path: Path) -> None:
    """Two requests with one name would be indistinguishable in results."""
    text = (
        MINIMAL
        + """\
checks:
  https:
    requests:
      - {name: home, path: /}
      - {name: home, path: /about}
"""
    )
    assert problems(tmp_path, text) == [
        ("checks.https.requests", "the name 'home' is used more than once")
    ]


def test_bad_request_name_is_rejected(tmp_path: Path) -> None:
    """Request names are lowercase letters, digits and dashes."""
    text = MINIMAL + "checks:\n  https:\n    requests: [{name: Home Page}]\n"
    assert problems(tmp_path, text) == [
        (
            "checks.https.requests[0].name",
            "expected a request name of lowercase letters, digits and dashes, got 'Home Page'",
        )
    ]


def test_bad_regex_is_rejected_at_load(tmp_path: Path) -> None:
    """A body_regex that does not compile is a configuration error, not a probe failure."""
    text = (
        MINIMAL
        + """\
checks:
  https:
    requests:
      - name: home
        expect: {body_regex: "<title>(["}
"""
    )
    assert problems(tmp_path, text) == [
        (
            "checks.https.requests[0].expect.body_regex",
            "expected a regular expression: unterminated character set at position 8",
        )
    ]


def test_bad_request_path_is_rejected(tmp_path: Path) -> None:
    """A path must start with a slash."""
    text = MINIMAL + "checks:\n  https:\n    requests: [{name: admin, path: ghost}]\n"
    assert problems(tmp_path, text) == [
        (
            "checks.https.requests[0].path",
            "expected a path starting with / and without spaces, got 'ghost'",
        )
    ]


def test_empty_status_list_is_rejected(tmp_path: Path) -> None:
    """A request must accept at least one status."""
    text = MINIMAL + "checks:\n  https:\n    requests: [{name: home, expect: {status: []}}]\n"
    assert problems(tmp_path, text) == [
        ("checks.https.requests[0].expect.status", "expected at least one HTTP status code")
    ]


def test_bad_header_name_is_rejected(tmp_path: Path) -> None:
    """Header names in expectations must be valid HTTP header names."""
    text = (
        MINIMAL
        + """\
checks:
  https:
    requests: [{name: home, expect: {headers_present: [Strict Transport Security]}}]
"""
    )
    assert problems(tmp_path, text) == [
        (
            "checks.https.requests[0].expect.headers_present",
            "expected HTTP header names, got 'Strict Transport Security'",
        )
    ]


def test_bad_hostname_is_rejected(tmp_path: Path) -> None:
    """site.hostname must be a DNS name."""
    assert problems(tmp_path, "site: {hostname: blog_example com}\n" + REGIONS) == [
        (
            "site.hostname",
            "expected a DNS hostname such as blog.example.com, got 'blog_example com'",
        )
    ]


def test_hostname_is_normalised(tmp_path: Path) -> None:
    """A trailing dot is dropped and the name lower-cased."""
    config = load(tmp_path, "site: {hostname: Blog.Example.COM.}\n" + REGIONS)
    assert config.site.hostname == "blog.example.com"


def test_bad_region_address_is_rejected(tmp_path: Path) -> None:
    """A region's address is an IP address or a hostname."""
    text = SITE + "regions:\n  westeurope: {address: not an address}\n"
    assert problems(tmp_path, text) == [
        ("regions.westeurope.address", "expected an IP address or a hostname, got 'not an address'")
    ]


def test_bad_region_name_is_named_by_its_key(tmp_path: Path) -> None:
    """A region name with capitals or underscores is rejected under its own key path."""
    text = SITE + "regions:\n  West_Europe: {address: 20.1.2.3}\n"
    assert problems(tmp_path, text) == [
        (
            "regions.West_Europe",
            "expected a region name of lowercase letters, digits and dashes, got 'West_Europe'",
        )
    ]


def test_empty_regions_is_rejected(tmp_path: Path) -> None:
    """At least one region is needed."""
    assert problems(tmp_path, SITE + "regions: {}\n") == [
        ("regions", "expected at least one region")
    ]


def test_bad_listen_address_is_rejected(tmp_path: Path) -> None:
    """api.listen is host:port."""
    assert problems(tmp_path, MINIMAL + "api: {listen: '8000'}\n") == [
        ("api.listen", "expected host:port such as 127.0.0.1:8000, got '8000'")
    ]


# --- references between sections ----------------------------------------------------------


def test_unknown_local_region_lists_the_regions(tmp_path: Path) -> None:
    """api.local_region must name a configured region."""
    assert problems(tmp_path, MINIMAL + "api: {local_region: eastus}\n") == [
        ("api.local_region", f"unknown region 'eastus' {ALLOWED_REGIONS}")
    ]


def test_unknown_region_of_a_request_names_its_index(tmp_path: Path) -> None:
    """checks.https.requests[].regions must name configured regions."""
    text = (
        MINIMAL
        + """\
checks:
  https:
    requests:
      - {name: home, regions: [westeurope, eastus]}
"""
    )
    assert problems(tmp_path, text) == [
        ("checks.https.requests[0].regions[1]", f"unknown region 'eastus' {ALLOWED_REGIONS}")
    ]


def test_unknown_expect_region_of_dns_resolver_and_vantage_point_is_rejected(
    tmp_path: Path,
) -> None:
    """The DNS checks' expect_region must name configured regions."""
    text = (
        MINIMAL
        + """\
checks:
  dns:
    resolvers:
      - {name: eu, address: 127.0.0.53, expect_region: northeurope}
    vantage_points:
      - {name: asia, client_subnet: 1.0.0.0/24, expect_region: eastasia}
"""
    )
    assert problems(tmp_path, text) == [
        (
            "checks.dns.resolvers[0].expect_region",
            f"unknown region 'northeurope' {ALLOWED_REGIONS}",
        ),
        (
            "checks.dns.vantage_points[0].expect_region",
            f"unknown region 'eastasia' {ALLOWED_REGIONS}",
        ),
    ]


def test_duplicate_endpoint_names_are_rejected(tmp_path: Path) -> None:
    """Two regions cannot share a Traffic Manager endpoint, explicitly or by default name."""
    text = (
        SITE
        + """\
regions:
  westeurope: {address: 20.1.2.3}
  centralus: {address: 52.165.160.200, endpoint: westeurope}
"""
    )
    message = "endpoint 'westeurope' is used by more than one region"
    assert problems(tmp_path, text) == [
        ("regions.westeurope.endpoint", message),
        ("regions.centralus.endpoint", message),
    ]


# --- DNS resolvers and vantage points ------------------------------------------------------


def test_doh_resolver_without_url_is_rejected(tmp_path: Path) -> None:
    """A DNS-over-HTTPS resolver needs its URL."""
    text = MINIMAL + "checks:\n  dns:\n    resolvers: [{name: cf, protocol: doh}]\n"
    assert problems(tmp_path, text) == [
        (
            "checks.dns.resolvers[0].url",
            "a doh resolver needs a url such as https://127.0.0.1/dns-query",
        )
    ]


def test_udp_resolver_without_address_is_rejected(tmp_path: Path) -> None:
    """A plain resolver (udp by default) needs an address."""
    text = MINIMAL + "checks:\n  dns:\n    resolvers: [{name: eu}]\n"
    assert problems(tmp_path, text) == [
        ("checks.dns.resolvers[0].address", "a udp resolver needs an address")
    ]


def test_client_subnet_with_host_bits_is_rejected(tmp_path: Path) -> None:
    """81.2.69.1/24 is an address in a network, not a network."""
    text = (
        MINIMAL
        + """\
checks:
  dns:
    vantage_points: [{name: europe, client_subnet: 81.2.69.1/24}]
"""
    )
    assert problems(tmp_path, text) == [
        (
            "checks.dns.vantage_points[0].client_subnet",
            "expected a network such as 81.2.69.0/24: 81.2.69.1/24 has host bits set",
        )
    ]


def test_client_subnet_that_is_not_a_network_is_rejected(tmp_path: Path) -> None:
    """A client_subnet that is not an IP network at all is rejected."""
    text = (
        MINIMAL
        + """\
checks:
  dns:
    vantage_points: [{name: europe, client_subnet: nonsense}]
"""
    )
    assert problems(tmp_path, text) == [
        (
            "checks.dns.vantage_points[0].client_subnet",
            "expected a network such as 81.2.69.0/24: "
            "'nonsense' does not appear to be an IPv4 or IPv6 network",
        )
    ]


# --- environment interpolation -------------------------------------------------------------


def test_unset_env_var_without_default_names_the_key(tmp_path: Path) -> None:
    """An unset ${VAR} is an error naming the key and suggesting a default."""
    assert problems(tmp_path, MINIMAL + "api: {token: '${REGIONWATCH_TOKEN}'}\n") == [
        (
            "api.token",
            "environment variable REGIONWATCH_TOKEN is not set "
            "(write ${REGIONWATCH_TOKEN:-default} for a default)",
        )
    ]


def test_env_var_is_substituted(tmp_path: Path) -> None:
    """${VAR} takes the variable's value, validated like any value (here a port)."""
    text = SITE + "regions:\n  westeurope: {address: '${WE_ADDRESS}', port: '${WE_PORT}'}\n"
    config = load(tmp_path, text, env={"WE_ADDRESS": "20.1.2.3", "WE_PORT": "8443"})
    assert config.regions["westeurope"].address == "20.1.2.3"
    assert config.regions["westeurope"].port == 8443


def test_env_var_default_is_used_when_unset(tmp_path: Path) -> None:
    """${VAR:-default} falls back to the default when VAR is not set."""
    config = load(tmp_path, MINIMAL + "failover: {mode: '${MODE:-enforce}'}\n")
    assert config.failover.mode == "enforce"


def test_env_var_wins_over_its_default(tmp_path: Path) -> None:
    """${VAR:-default} takes VAR's value when it is set."""
    config = load(tmp_path, MINIMAL + "failover: {mode: '${MODE:-enforce}'}\n", env={"MODE": "off"})
    assert config.failover.mode == "off"


def test_double_dollar_is_a_literal_dollar(tmp_path: Path) -> None:
    """$$ writes one $ and is never read as a variable."""
    config = load(tmp_path, MINIMAL + "api: {token: 'pa$$word-$${NOT_A_VAR}'}\n")
    assert config.api.token == "pa$word-${NOT_A_VAR}"


# --- files ---------------------------------------------------------------------------------


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """A configuration file that does not exist is one clear line."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == f"{path}: file not found"


def test_invalid_yaml_reports_line_and_column(tmp_path: Path) -> None:
    """A YAML syntax error points at the line and column."""
    path = write(tmp_path, "site:\n  hostname: blog.example.com\n regions: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == (
        f"{path}: line 3, column 2: invalid YAML: "
        "expected <block end>, but found '<block mapping start>'"
    )


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("- site\n- regions\n", "a list"),
        ("", "an empty file"),
        ("# only a comment\n", "an empty file"),
        ("just a string\n", "a string"),
        ("8000\n", "a single value"),
    ],
)
def test_top_level_that_is_not_a_mapping_is_rejected(tmp_path: Path, text: str, got: str) -> None:
    """A list, a scalar or an empty file is not a configuration, and the message says which."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == (
        f"{path}: expected a mapping at the top level (site:, regions: ...), got {got}"
    )


def test_tls_ca_file_that_does_not_exist_is_rejected(tmp_path: Path) -> None:
    """tls.ca_file must exist at load, and the message shows the resolved path."""
    assert problems(tmp_path, MINIMAL + "tls: {ca_file: certs/ca.pem}\n") == [
        ("tls.ca_file", f"expected a readable file, got '{tmp_path / 'certs' / 'ca.pem'}'")
    ]


def test_traffic_manager_ca_file_that_does_not_exist_is_rejected(tmp_path: Path) -> None:
    """traffic_manager.ca_file must exist at load."""
    text = (
        MINIMAL
        + """\
traffic_manager:
  subscription_id: sub
  resource_group: blog
  profile: blog
  ca_file: arm-ca.pem
"""
    )
    assert problems(tmp_path, text) == [
        ("traffic_manager.ca_file", f"expected a readable file, got '{tmp_path / 'arm-ca.pem'}'")
    ]


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tls.ca_file, traffic_manager.ca_file and storage.path are relative to the file's folder,
    not the working directory."""
    folder = tmp_path / "etc"
    (folder / "certs").mkdir(parents=True)
    (folder / "certs" / "ca.pem").write_bytes(PEM)
    (folder / "arm-ca.pem").write_bytes(PEM)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text = (
        MINIMAL
        + """\
tls: {ca_file: certs/ca.pem}
traffic_manager: {subscription_id: sub, resource_group: blog, profile: blog, ca_file: arm-ca.pem}
storage: {path: data/history.db}
"""
    )
    config = load(folder, text)
    assert config.tls.ca_file == folder / "certs" / "ca.pem"
    assert config.traffic_manager is not None
    assert config.traffic_manager.ca_file == folder / "arm-ca.pem"
    assert config.storage.path == folder / "data" / "history.db"


def test_default_storage_path_is_beside_the_config_file(tmp_path: Path) -> None:
    """storage.path defaults to regionwatch.db in the configuration file's folder."""
    assert load(tmp_path, MINIMAL).storage.path == tmp_path / "regionwatch.db"


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    """An absolute path is used as written."""
    ca = tmp_path / "trust" / "ca.pem"
    ca.parent.mkdir()
    ca.write_bytes(PEM)
    folder = tmp_path / "conf"
    folder.mkdir()
    config = load(
        folder, MINIMAL + f"tls: {{ca_file: '{ca}'}}\nstorage: {{path: /var/lib/rw.db}}\n"
    )
    assert config.tls.ca_file == ca
    assert config.storage.path == Path("/var/lib/rw.db")


# --- all problems at once, and nothing half loaded -----------------------------------------


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    """Every problem of a stage is listed, one line each, not just the first."""
    path = write(
        tmp_path,
        SITE
        + """\
regions:
  westeurope: {address: 20.1.2.3, port: https}
failover: {mode: yes-please}
checks:
  https: {interval: soon}
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value).splitlines() == [
        f"{path}: regions.westeurope.port: expected a whole number, got 'https'",
        f"{path}: checks.https.interval: expected a duration such as 10s, 5m or 1h, got 'soon'",
        f"{path}: failover.mode: expected 'off', 'dry-run' or 'enforce', got 'yes-please'",
    ]


def test_reference_and_file_problems_are_reported_together(tmp_path: Path) -> None:
    """An unknown region and a missing CA file are reported in one error."""
    text = MINIMAL + "api: {local_region: eastus}\ntls: {ca_file: ca.pem}\n"
    assert problems(tmp_path, text) == [
        ("api.local_region", f"unknown region 'eastus' {ALLOWED_REGIONS}"),
        ("tls.ca_file", f"expected a readable file, got '{tmp_path / 'ca.pem'}'"),
    ]


@pytest.mark.parametrize(
    "broken",
    [
        MINIMAL + "api: {token: '${UNSET_TOKEN}'}\n",  # interpolation
        MINIMAL + "checks: {https: {samples: 0}}\n",  # a value rule
        MINIMAL + "api: {local_region: eastus}\n",  # a reference
        MINIMAL + "storage: {path: ok.db}\ntls: {ca_file: missing.pem}\n",  # a file
    ],
    ids=["interpolation", "value", "reference", "file"],
)
def test_broken_config_never_returns_half_a_config(tmp_path: Path, broken: str) -> None:
    """Whatever stage finds the problem, loading raises instead of returning what was valid."""
    path = write(tmp_path, broken)
    result: Config | None = None
    with pytest.raises(ConfigError):
        result = load_config(path, env={})
    assert result is None


def test_parse_config_names_its_source(tmp_path: Path) -> None:
    """parse_config, for YAML already read, prefixes every line with the given source."""
    with pytest.raises(ConfigError) as caught:
        parse_config({"site": {"hostname": "blog.example.com"}}, source="inline", env={})
    assert str(caught.value) == "inline: regions: required key is missing"


def test_an_empty_token_means_no_token(tmp_path: Path) -> None:
    """`${VAR:-}` with VAR unset leaves no token rather than the empty token."""
    path = tmp_path / "rw.yaml"
    path.write_text(
        "site: {hostname: blog.example.com}\n"
        "regions: {westeurope: {address: 127.0.0.2}}\n"
        "api: {token: '${RW_TOKEN:-}', read_token: ''}\n"
    )
    api = load_config(path, env={}).api
    assert (api.token, api.read_token) == (None, None)


def test_the_shipped_example_configuration_loads() -> None:
    """examples/regionwatch.yaml is valid (loaded only: nothing here probes its addresses)."""
    example = Path(__file__).resolve().parents[2] / "examples" / "regionwatch.yaml"
    config = load_config(
        example, env={"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000"}
    )
    assert set(config.regions) == {"westeurope", "centralus"}
    assert config.checks.dns is not None and len(config.checks.dns.vantage_points) == 2
    assert config.traffic_manager is not None and config.traffic_manager.profile == "blog"


def problems_of(
    tmp_path: Path, extra: str, env: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    path = tmp_path / "rw.yaml"
    path.write_text(MINIMAL + extra)
    with pytest.raises(ConfigError) as raised:
        load_config(path, env=env or {})
    return [(p.key, p.message) for p in raised.value.problems]


def test_a_ca_file_that_is_not_pem_is_refused_at_load(tmp_path: Path) -> None:
    """A CA bundle is loaded as the probes will load it, so a bad one fails at start."""
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    [(key, message)] = problems_of(tmp_path, "tls: {ca_file: ca.pem}\n")
    assert key == "tls.ca_file"
    assert message.startswith(f"expected PEM certificates in '{tmp_path / 'ca.pem'}'")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ("{Host: evil.example}", "Host is set by the probe itself (the site's hostname)"),
        ('{"Bad Name": x}', "expected HTTP header names, got 'Bad Name'"),
        ('{X-Test: "a\\r\\nInjected: 1"}', "the value of X-Test must be one line"),
    ],
)
def test_request_headers_are_checked_at_load(tmp_path: Path, headers: str, message: str) -> None:
    """Headers a probe would refuse to send fail at load, not as a crash at start."""
    extra = f"checks:\n  https:\n    requests:\n      - {{name: home, headers: {headers}}}\n"
    assert problems_of(tmp_path, extra) == [("checks.https.requests[0].headers", message)]


def test_a_resolver_is_named_by_its_ip_address(tmp_path: Path) -> None:
    """Looking a resolver up would need another resolver: its address must be an IP."""
    extra = "checks:\n  dns:\n    resolvers: [{name: eu, address: dns.example.net}]\n"
    assert problems_of(tmp_path, extra) == [
        (
            "checks.dns.resolvers[0].address",
            "expected the resolver's IP address, got 'dns.example.net'",
        )
    ]


def test_dns_and_traffic_manager_intervals_must_be_above_zero(tmp_path: Path) -> None:
    """A zero interval would spin: refused for DNS and Traffic Manager too."""
    assert problems_of(tmp_path, "checks:\n  dns: {interval: 0s}\n") == [
        ("checks.dns.interval", "expected a duration of at least 1s, got 0s")
    ]
    extra = "traffic_manager: {interval: 0s, subscription_id: s, resource_group: g, profile: p}\n"
    assert problems_of(tmp_path, extra) == [
        ("traffic_manager.interval", "expected a duration of at least 1s, got 0s")
    ]


def test_a_region_that_no_request_applies_to_is_refused(tmp_path: Path) -> None:
    """A region no request covers would stay unknown forever (and check would always exit 1)."""
    extra = "checks:\n  https:\n    requests: [{name: home, regions: [westeurope]}]\n"
    problems = problems_of(tmp_path, extra)
    assert [key for key, _ in problems] == ["regions.centralus"]


def test_secrets_are_never_echoed_in_errors(tmp_path: Path) -> None:
    """A value that may hold a secret after ${ENV} substitution is described, not printed."""
    extra = (
        "alerts: {name: ops, type: webhook, url: u, secret: '${HOOK_SECRET}'}\napi: {token: [1]}\n"
    )
    text = str(problems_of(tmp_path, extra, env={"HOOK_SECRET": "s3cr3t-VALUE"}))
    assert "s3cr3t-VALUE" not in text
    assert "got dict" in text and "got list" in text
