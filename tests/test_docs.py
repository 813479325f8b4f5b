"""The user documentation against the program: exit codes, the example configuration, and
docs that speak of releases and behaviour, never of the project's development."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

import regionwatch.exits
from monitor.config import load_config
from monitor.results import DnsStatus

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
EXAMPLE = ROOT / "examples" / "regionwatch.yaml"
SCHEMA = ROOT / "docs" / "contract" / "check.schema.json"
DOCUMENTATION_NETWORKS = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
]
DOCUMENTATION_DOMAINS = ("example.com", "example.net", "example.org", "example", "test")


def section(path: Path, title: str) -> str:
    """The text of one `## title` section of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def exit_code_rows() -> dict[str, tuple[int, str]]:
    """The rows of docs/configuration.md's exit-code table: name → (code, meaning)."""
    rows = {}
    for line in section(CONFIGURATION, "Exit codes").splitlines():
        match = re.match(r"^\| (\d+) \| `(EXIT_\w+)` \| ([^|]+) \|", line)
        if match:
            rows[match.group(2)] = (int(match.group(1)), match.group(3))
    return rows


def test_the_exit_code_table_and_regionwatch_exits_agree() -> None:
    """Every code of regionwatch/exits.py is documented under its name and value, and the
    table documents no other."""
    defined = {name: getattr(regionwatch.exits, name) for name in regionwatch.exits.__all__}
    documented = {name: code for name, (code, _) in exit_code_rows().items()}
    assert documented == defined


def test_exit_1_names_every_dns_status_that_causes_it() -> None:
    """The documented reasons for exit 1, in the reference and the README, name exactly the
    DNS statuses that make `check` fail."""
    statuses = set(
        json.loads(SCHEMA.read_text(encoding="utf-8"))["properties"]["dns"]["items"]["properties"][
            "status"
        ]["enum"]
    )
    _, meaning = exit_code_rows()["EXIT_FAILING"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = next(line for line in readme.splitlines() if line.startswith("`check` exits 0"))
    exit_1 = sentence.split("; 1 when", 1)[1].split(";", 1)[0]
    for text in (meaning, exit_1):
        # After "a DNS answer is": a region's `unknown` is a verdict, not a DNS status.
        dns_part = text.split("DNS answer", 1)[1]
        assert set(re.findall(r"`(\w+)`", dns_part)) & statuses == {
            s.value for s in DnsStatus if s.wrong
        }, text


def user_docs() -> Iterator[Path]:
    """What a user reads: the README, CONTRIBUTING, docs/ (but the decision records, which
    are history by nature) and the example."""
    yield ROOT / "README.md"
    yield ROOT / "CONTRIBUTING.md"
    for path in sorted((ROOT / "docs").rglob("*.md")):
        if "adr" not in path.parts:
            yield path
    yield EXAMPLE


@pytest.mark.parametrize("path", list(user_docs()), ids=lambda p: str(p.relative_to(ROOT)))
def test_user_docs_speak_of_releases_not_of_issues(path: Path) -> None:
    """No user document speaks of issues or of what some future piece of work will add."""
    text = path.read_text(encoding="utf-8")
    found = re.findall(r"\bissues?\b|\badded by\b|\bnext issue\b", text, re.IGNORECASE)
    assert found == []


def _values(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _values(value, str(name))
    elif isinstance(node, list):
        for item in node:
            yield from _values(item, key)
    elif isinstance(node, str):
        yield key, node


def _documentation_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or any(
            host == d or host.endswith("." + d) for d in DOCUMENTATION_DOMAINS
        )
    return address.is_loopback or any(address in n for n in DOCUMENTATION_NETWORKS)


def _documentation_network(text: str) -> bool:
    network = ipaddress.ip_network(text)
    return any(network.subnet_of(n) for n in DOCUMENTATION_NETWORKS if n.version == 4)


def test_the_example_names_only_documentation_addresses_and_listens_on_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """examples/regionwatch.yaml loads, every address, network, URL and name in its values
    is a documentation (or loopback) one, and its API listens on loopback. Nothing is
    probed: the example is only loaded."""
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    config = load_config(EXAMPLE)
    assert ipaddress.ip_address(config.api.host).is_loopback
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    checked = []
    for key, value in _values(raw):
        if key == "client_subnet":
            assert _documentation_network(value), value
        elif key == "url":
            assert _documentation_host(urlsplit(value).hostname or ""), value
        elif key in ("address", "hostname", "tls_hostname"):
            assert _documentation_host(value), (key, value)
        elif key == "listen":
            assert _documentation_host(value.rpartition(":")[0].strip("[]")), value
        else:
            for literal in re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", value):
                assert _documentation_host(literal), (key, value)
            continue
        checked.append(key)
    assert {"client_subnet", "url", "address", "hostname", "tls_hostname", "listen"} <= set(checked)


def test_the_address_check_rejects_real_addresses() -> None:
    """The checks above would catch the public addresses the example used to hold."""
    assert not _documentation_host("20.1.2.3")
    assert not _documentation_host("8.8.8.8")
    assert not _documentation_host("dns.quad9.net")
    assert not _documentation_network("81.2.69.0/24")
    assert _documentation_host("203.0.113.10") and _documentation_host("doh.example.net")


def test_every_event_type_is_documented_with_a_valid_example() -> None:
    """docs/events.md has a section per event type, each with a JSON example of that type in
    the API's event shape."""
    from api.models import EventOut
    from monitor.events import EventType

    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"### `([a-z_.]+)`\n(.*?)(?=\n### |\Z)", text, flags=re.S))
    assert set(sections) == {t.value for t in EventType}
    for kind, body in sections.items():
        example = re.search(r"```json\n(.*?)```", body, flags=re.S)
        assert example is not None, kind
        event = EventOut.model_validate_json(example.group(1))
        assert event.type.value == kind


def test_the_alerts_events_table_lists_every_event_type() -> None:
    """docs/alerts.md's `## Events` table has one row per event type, no more, no less."""
    from monitor.events import EventType

    text = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    section = text.split("\n## Events\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_.]+)` \|", section, flags=re.M)
    assert sorted(rows) == sorted(t.value for t in EventType)
