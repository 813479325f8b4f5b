"""docs/configuration.md against the pydantic models: every key, and every default, on both sides.

Key paths follow the doc's convention: dotted field names from `Config`, `<name>` for the key
of a mapping of sections (`regions.<name>.address`), and `[]` for the items of a list
(`checks.https.requests[].expect.status`).
"""

from __future__ import annotations

import re
import typing
from datetime import timedelta
from pathlib import Path

import yaml
from configkeys import annotation_metadata, model_keys

from monitor.config import MIN_INTERVAL, UrlRule, parse_config
from monitor.configfile import MAX_BYTES, MAX_DEPTH, MAX_TEXT, MAX_VALUES
from monitor.durations import MAX_DURATION, format_duration

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
HEADER = ["Key", "Type", "Default", "Meaning"]
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_KEY_CELL = re.compile(r"^`([^`]+)`$")


def documented_rows() -> dict[str, list[str]]:
    """Every row of the doc's `Key | Type | Default | Meaning` tables, by key path."""
    rows: dict[str, list[str]] = {}
    header: list[str] | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in _CELL_SPLIT.split(line.strip())[1:-1]]
        if header is None:
            header = cells
            continue
        if header != HEADER or set("".join(cells)) <= set("-: "):
            continue
        assert len(cells) == len(HEADER), f"row with {len(cells)} cells: {line}"
        match = _KEY_CELL.match(cells[0])
        assert match, f"the Key cell is not one backticked key path: {line}"
        assert match.group(1) not in rows, f"{match.group(1)} is documented twice"
        rows[match.group(1)] = cells
    return rows


def _literal(value: object) -> str | None:
    """A default as the doc spells it, or None when it has no short spelling (a section)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        items = [_literal(item) for item in value]
        if any(item is None for item in items):
            return None
        return f"[{', '.join(typing.cast(list[str], items))}]"
    return None


def test_every_model_key_is_documented() -> None:
    """A key added to the models without a row in docs/configuration.md fails."""
    missing = [path for path, _ in model_keys() if path not in documented_rows()]
    assert missing == []


def test_every_documented_key_exists_in_the_models() -> None:
    """A row in docs/configuration.md for a key the models do not accept fails."""
    keys = {path for path, _ in model_keys()}
    unknown = [path for path in documented_rows() if path not in keys]
    assert unknown == []


def test_documented_defaults_match_the_models() -> None:
    """Each Default cell starts with the model's default (or says `required`)."""
    rows = documented_rows()
    wrong = []
    for path, field in model_keys():
        if path not in rows:
            continue  # test_every_model_key_is_documented names it
        cell = rows[path][2]
        if field.is_required():
            expected: str | None = "required"
            ok = cell == "required"
        else:
            expected = _literal(field.get_default(call_default_factory=True))
            ok = expected is None or cell.startswith(f"`{expected}`")
        if not ok:
            wrong.append(f"{path}: documented {cell!r}, the model's default is {expected!r}")
    assert wrong == []


def test_the_complete_example_in_the_docs_loads(tmp_path: Path) -> None:
    """The doc's first YAML example is a valid configuration."""
    example = re.search(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert example is not None
    env = {
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "OPS_WEBHOOK_URL": "https://hooks.example.com/ops",
        "REGIONWATCH_TOKEN": "secret",
    }
    config = parse_config(yaml.safe_load(example.group(1)), base=tmp_path, env=env)
    assert [r.name for r in config.checks.https.requests] == [
        "home",
        "admin-blocked",
        "https-redirect",
        "hsts",
    ]
    assert config.alerts[0].secret is None


def test_key_walk_follows_the_doc_conventions() -> None:
    """The walk names mapping items `<name>` and list items `[]`, as the doc does."""
    keys = {path for path, _ in model_keys()}
    assert {
        "regions.<name>.address",
        "checks.https.requests[].expect.status",
        "checks.dns.vantage_points[].client_subnet",
        "traffic_manager.ca_file",
        "peers[].token",
    } <= keys


def section(title: str) -> str:
    """The text of the doc's `### title` section, up to the next heading."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^#)", text, re.DOTALL | re.MULTILINE)
    assert found is not None, f"no ### {title} section"
    return found.group(1)


def url_rules() -> dict[str, UrlRule]:
    return {
        path: rule
        for path, field in model_keys()
        for rule in annotation_metadata(field)
        if isinstance(rule, UrlRule)
    }


def test_every_url_key_documents_the_schemes_it_accepts() -> None:
    """Each URL key's Type cell says what its rule accepts (`https URL`), and the URLs section's
    table lists exactly the URL keys, so a new one cannot skip the https decision."""
    rows = documented_rows()
    rules = url_rules()
    wrong = {
        path: rows[path][1]
        for path, rule in rules.items()
        if not rows[path][1].startswith(rule.type_cell)
    }
    assert wrong == {}
    listed = re.findall(r"^\| `([^`]+)` \|", section("URLs"), re.MULTILINE)
    assert sorted(listed) == sorted(rules)
    assert len(rules) == 7


def test_the_documented_limits_are_the_loaders() -> None:
    """The YAML section states the loader's limits, and the Durations section the range."""
    yaml_rules = " ".join(section("YAML").split())
    assert f"at most {MAX_BYTES // 1024 // 1024} MiB" in yaml_rules
    assert f"at most {MAX_VALUES:,} values" in yaml_rules
    assert f"at most {MAX_TEXT // 1024 // 1024} MiB of text" in yaml_rules
    assert f"nest at most {MAX_DEPTH} levels deep" in yaml_rules
    assert "Duplicate keys are errors" in yaml_rules
    assert f"between `0s` and `{format_duration(MAX_DURATION)}`" in section("Durations")


def test_every_interval_documents_its_minimum() -> None:
    """The three intervals' rows state the shortest interval the models accept."""
    rows = documented_rows()
    minimum = f"at least `{format_duration(MIN_INTERVAL)}`"
    keys = ["checks.https.interval", "checks.dns.interval", "traffic_manager.interval"]
    assert [key for key in keys if minimum not in rows[key][3]] == []
