"""`${VAR}` and `${VAR:-default}` in configuration strings, resolved against the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping

from monitor.errors import ConfigProblem

__all__ = ["interpolate"]

# `$$` is a literal dollar; `${NAME}` and `${NAME:-default}` are substituted.
_TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(
    value: object, env: Mapping[str, str], problems: list[ConfigProblem], path: str = ""
) -> object:
    """Return `value` with every string substituted; unset variables are recorded in `problems`."""
    if isinstance(value, str):
        return _substitute(value, env, problems, path)
    if isinstance(value, dict):
        return {
            key: interpolate(item, env, problems, _join(path, str(key)))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [interpolate(item, env, problems, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def _substitute(text: str, env: Mapping[str, str], problems: list[ConfigProblem], path: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(
            ConfigProblem(
                path,
                f"environment variable {name} is not set "
                f"(write ${{{name}:-default}} for a default)",
            )
        )
        return ""

    return _TOKEN.sub(replace, text)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
