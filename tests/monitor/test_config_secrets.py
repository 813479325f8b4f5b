"""A value that came from `${VAR}` is never shown in a configuration error, whatever the key is
called: the message names the variable instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError

SECRET = "hunter2 Zx9!"  # a space: valid as no hostname, URL, number, duration or region
ENV = {"AZURE_CLIENT_SECRET": SECRET}
SITE = "site: {hostname: blog.example.com}\n"
MINIMAL = SITE + "regions: {westeurope: {address: 20.1.2.3}}\n"
S = "'${AZURE_CLIENT_SECRET}'"
NAMED = "the value of ${AZURE_CLIENT_SECRET}"


def problems(folder: Path, text: str, env: dict[str, str] = ENV) -> list[tuple[str, str]]:
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env)
    assert SECRET not in str(caught.value)
    return [(p.key, p.message) for p in caught.value.problems]


def test_a_secret_in_a_port_is_named_by_its_variable(tmp_path: Path) -> None:
    """`port: ${AZURE_CLIENT_SECRET}` once printed the secret in `expected a whole number`; a
    `:-default` written in the file is the file's own text, and is still shown."""
    text = SITE + (
        f"regions: {{westeurope: {{address: 20.1.2.3, port: {S}}}}}\n"
        "failover: {mode: '${FAILOVER_MODE:-sometimes}'}\n"
    )
    assert problems(tmp_path, text) == [
        ("regions.westeurope.port", f"expected a whole number, got {NAMED}"),
        ("failover.mode", "expected 'off', 'dry-run' or 'enforce', got 'sometimes'"),
    ]


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (
            SITE + f"regions: {{westeurope: {{address: {S}}}}}\n",
            "regions.westeurope.address",
            f"expected an IP address or a hostname, got {NAMED}",
        ),
        (
            MINIMAL + f"checks: {{https: {{interval: {S}}}}}\n",
            "checks.https.interval",
            f"expected a duration such as 10s, 5m or 1h, got {NAMED}",
        ),
        (
            MINIMAL + f"failover: {{mode: {S}}}\n",
            "failover.mode",
            f"expected 'off', 'dry-run' or 'enforce', got {NAMED}",
        ),
        (
            MINIMAL + f"api: {{listen: {S}}}\n",
            "api.listen",
            f"expected host:port such as 127.0.0.1:8000, got {NAMED}",
        ),
        (
            MINIMAL + f"api: {{local_region: {S}}}\n",
            "api.local_region",
            f"unknown region {NAMED} (expected one of: westeurope)",
        ),
        (
            f"site: {{hostname: {S}}}\nregions: {{westeurope: {{address: 20.1.2.3}}}}\n",
            "site.hostname",
            f"expected a DNS hostname such as blog.example.com, got {NAMED}",
        ),
        (
            MINIMAL + f"checks: {{dns: {{vantage_points: [{{name: v, client_subnet: {S}}}]}}}}\n",
            "checks.dns.vantage_points[0].client_subnet",
            f"expected a network such as 81.2.69.0/24: {NAMED} does not appear to be an IPv4 "
            "or IPv6 network",
        ),
        (
            MINIMAL + f"checks: {{https: {{requests: [{{name: home, expect: "
            f"{{headers_present: [X-Ok, {S}]}}}}]}}}}\n",
            "checks.https.requests[0].expect.headers_present",
            f"expected HTTP header names, got {NAMED}",
        ),
        (
            MINIMAL + f"tls: {{ca_file: {S}}}\n",
            "tls.ca_file",
            f"expected a readable file, got {NAMED}",
        ),
        (
            MINIMAL + f"checks: {{https: {{requests: [{{name: {S}}}]}}}}\n",
            "checks.https.requests[0].name",
            f"expected a request name of lowercase letters, digits and dashes, got {NAMED}",
        ),
    ],
    ids=[
        "address",
        "duration",
        "choice",
        "listen",
        "reference",
        "hostname",
        "subnet",
        "list-item",
        "file",
        "name",
    ],
)
def test_no_key_shows_a_value_from_the_environment(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    """Whatever the key, its type or the stage that finds the problem (values, references,
    files), the message says `the value of ${VAR}` where the value would have been."""
    assert problems(tmp_path, text) == [(key, message)]


def test_a_value_built_from_a_variable_names_the_variable(tmp_path: Path) -> None:
    """A string with a variable inside (`…/${VAR}`) is described, not shown; URL errors never
    quote the URL at all."""
    text = MINIMAL + "peers: [{name: eu, url: 'observer/${AZURE_CLIENT_SECRET}', token: x}]\n"
    url_problem = problems(tmp_path, text)
    assert url_problem == [
        (
            "peers[0].url",
            "expected an http or https URL such as https://observer.example.com:8000 "
            "(it is empty or has spaces or control characters)",
        )
    ]
    text = MINIMAL + "api: {listen: '127.0.0.1:${AZURE_CLIENT_SECRET}'}\n"
    assert problems(tmp_path, text) == [
        (
            "api.listen",
            "expected host:port such as 127.0.0.1:8000, got a value built from "
            "${AZURE_CLIENT_SECRET}",
        )
    ]


def test_a_long_value_is_scrubbed_even_under_another_key(tmp_path: Path) -> None:
    """An endpoint name taken from the environment and quoted under the other region's key
    is replaced too: long values are scrubbed from every message."""
    text = SITE + (
        "regions:\n"
        "  westeurope: {address: 20.1.2.3}\n"
        "  centralus: {address: 52.165.160.200, endpoint: '${AZURE_CLIENT_SECRET}'}\n"
    )
    found = problems(tmp_path, text, env={"AZURE_CLIENT_SECRET": "westeurope"})
    assert found == [
        ("regions.westeurope.endpoint", f"endpoint {NAMED} is used by more than one region"),
        ("regions.centralus.endpoint", f"endpoint {NAMED} is used by more than one region"),
    ]


def test_a_long_secret_quoted_cut_under_another_key_is_scrubbed(tmp_path: Path) -> None:
    """A message shows a long value cut to its first 80 characters: that cut form is scrubbed
    as the whole value is, so the secret's first 80 characters never show either."""
    secret = "Zx9" * 100
    text = SITE + (
        "regions:\n"
        f"  westeurope: {{address: 20.1.2.3, endpoint: '{secret}'}}\n"
        "  centralus: {address: 52.165.160.200, endpoint: '${AZURE_CLIENT_SECRET}'}\n"
    )
    found = problems(tmp_path, text, env={"AZURE_CLIENT_SECRET": secret})
    assert found == [
        ("regions.westeurope.endpoint", f"endpoint {NAMED} is used by more than one region"),
        ("regions.centralus.endpoint", f"endpoint {NAMED} is used by more than one region"),
    ]


def test_scrubbed_writes_values_from_the_environment_back_as_their_variables(
    tmp_path: Path,
) -> None:
    """A message printed after loading (a store's path, a listen address) gets `${NAME}` back
    where a value from the environment was; a short value only where it stands alone, so a
    port of 80 leaves 8080 alone. The values are kept off the model's serialisation."""
    path = tmp_path / "config.yaml"
    path.write_text(
        MINIMAL + "storage: {path: '/proc/${AZURE_CLIENT_SECRET}/x.db'}\n"
        "api: {listen: '127.0.0.1:${PORT}'}\n",
        encoding="utf-8",
    )
    config = load_config(path, env={**ENV, "PORT": "80"})
    store = f"the store at {config.storage.path} cannot be created (create /proc/{SECRET})"
    assert config.scrubbed(store) == (
        "the store at /proc/${AZURE_CLIENT_SECRET}/x.db cannot be created "
        "(create /proc/${AZURE_CLIENT_SECRET})"
    )
    listen = "cannot listen on 127.0.0.1:80: in use (try 8080)"
    assert config.scrubbed(listen) == "cannot listen on 127.0.0.1:${PORT}: in use (try 8080)"
    assert "AZURE_CLIENT_SECRET" not in config.model_dump_json()  # no substitution in it
    assert str(config.storage.path) == f"/proc/{SECRET}/x.db"
