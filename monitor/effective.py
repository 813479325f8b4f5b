"""The effective configuration, safe to show: what the service runs with, every secret hidden.

Hidden wherever it appears: tokens (`api.token`, `api.read_token`, `peers[].token`), alert
secrets and the whole path and query of an alert's URL (a Slack or Teams webhook's secret is
its path), the values of probe headers that carry credentials, URL credentials and query
values anywhere (`monitor.redaction`), and any value taken from the environment written back as
its `${NAME}`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config import Config
from monitor.durations import format_duration
from monitor.redaction import HIDDEN, redact_urls

__all__ = ["SECRET_KEYS", "EffectiveConfig", "effective_config"]

# Keys whose value is a secret whatever section they are in.
SECRET_KEYS = frozenset(
    {"token", "read_token", "secret", "password", "client_secret", "routing_key"}
)
# Probe headers whose value is a credential (`Authorization: Basic ...`, an API key).
_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|password|key", re.IGNORECASE)
# Webhook URLs whose secret is in the path: only scheme and host are shown.
_PATH_SECRET_URLS = frozenset({"alerts[].url", "alerting.heartbeat.url"})


@dataclass(frozen=True, slots=True)
class EffectiveConfig:
    """The configuration as plain data (durations spelled as in the file), and the key paths
    whose values were hidden."""

    values: dict[str, Any]
    hidden: tuple[str, ...]


def effective_config(config: Config) -> EffectiveConfig:
    """`config` with every default filled in and every secret hidden (see the module)."""
    hidden: list[str] = []
    values = _shown(config.model_dump(), "", config, hidden)
    assert isinstance(values, dict)
    return EffectiveConfig(values, tuple(dict.fromkeys(hidden)))


def _shown(value: Any, path: str, config: Config, hidden: list[str]) -> Any:
    if isinstance(value, dict):
        return {
            str(key): _entry(str(key), item, path, config, hidden) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_shown(item, f"{path}[]", config, hidden) for item in value]
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return config.scrubbed(str(value))
    if isinstance(value, str):
        return config.scrubbed(redact_urls(value))
    return value


def _entry(key: str, value: Any, parent: str, config: Config, hidden: list[str]) -> Any:
    path = f"{parent}.{key}" if parent else key
    if value is None:
        return None
    if key in SECRET_KEYS or (parent.endswith(".headers") and _SECRET_HEADER.search(key)):
        hidden.append(path)
        return HIDDEN
    if path in _PATH_SECRET_URLS and isinstance(value, str):
        hidden.append(path)
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.hostname or ''}/{HIDDEN}"
    # A region's name, a header's name: the mapping's keys are shown as they are, the path
    # names them `<name>` as docs/configuration.md does.
    return _shown(value, path if parent not in _MAPPINGS else f"{parent}.<name>", config, hidden)


# Mappings keyed by a name: their items' paths are `regions.<name>.address`.
_MAPPINGS = frozenset({"regions"})
