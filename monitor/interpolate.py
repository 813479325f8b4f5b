"""`${VAR}` and `${VAR:-default}` in configuration strings, resolved against the environment,
and the rule that a value taken from the environment is never shown in an error: `redact` for
the configuration's own errors, `scrub` for any later message that may quote a configured
value (a store's path, a listen address)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.errors import ConfigProblem
from monitor.quoting import cut_forms

__all__ = ["Substitution", "interpolate", "redact", "scrub"]

# `$$` is a literal dollar; `${NAME}` and `${NAME:-default}` are substituted.
_TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Long enough to be a secret and unlikely to occur by chance in a message: such values are
# scrubbed from every message, whichever key it names.
_SCRUB_EVERYWHERE = 8
_WORD = "A-Za-z0-9"


@dataclass(frozen=True, slots=True)
class Substitution:
    """A string that took values from the environment: its key path, and what went in."""

    key: str
    value: str  # the whole string, after substitution
    variables: tuple[tuple[str, str], ...]  # (NAME, its value), in order of appearance

    def describe(self) -> str:
        """How an error names the value without showing it: `the value of ${NAME}`."""
        names = list(dict.fromkeys(name for name, _ in self.variables))
        if len(self.variables) == 1 and self.value == self.variables[0][1]:
            return f"the value of ${{{names[0]}}}"
        return "a value built from " + " and ".join(f"${{{name}}}" for name in names)


def interpolate(
    value: object,
    env: Mapping[str, str],
    problems: list[ConfigProblem],
    path: str = "",
    substitutions: list[Substitution] | None = None,
) -> object:
    """Return `value` with every string substituted; unset variables are recorded in `problems`.

    Every string that took a value from the environment (not a `:-default`) is recorded in
    `substitutions`, so `redact` can keep it out of error messages.
    """
    if isinstance(value, str):
        return _substitute(value, env, problems, path, substitutions)
    if isinstance(value, dict):
        return {
            key: interpolate(item, env, problems, _join(path, str(key)), substitutions)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            interpolate(item, env, problems, f"{path}[{i}]", substitutions)
            for i, item in enumerate(value)
        ]
    return value


def redact(
    problems: Sequence[ConfigProblem], substitutions: Sequence[Substitution]
) -> list[ConfigProblem]:
    """`problems` with every value that came from the environment replaced by its description.

    A problem about a key whose value was substituted ends `got the value of ${NAME}` instead of
    `got '…'`, whatever the key is called. A problem about a list or mapping holding such values
    has each of them replaced where it shows. Long values (secrets, URLs with tokens) are
    scrubbed from every message, in case one is quoted under another key.
    """
    if not substitutions:
        return list(problems)
    everywhere = {
        text: s.describe()
        for s in substitutions
        for text in _shown_forms(s)
        if len(text) >= _SCRUB_EVERYWHERE
    }
    redacted = []
    for problem in problems:
        related = [s for s in substitutions if _within(s.key, problem.key)]
        message = problem.message
        own = next((s for s in related if s.key == problem.key), None)
        head, got, _ = message.rpartition(", got ")
        if own is not None and got:
            message = _scrub(head, everywhere) + f", got {own.describe()}"
        else:
            texts = dict(everywhere)
            texts.update({text: s.describe() for s in related for text in _shown_forms(s)})
            message = _scrub(message, texts)
        redacted.append(ConfigProblem(problem.key, message))
    return redacted


def scrub(message: str, substitutions: Sequence[Substitution]) -> str:
    """`message` with every value taken from the environment written back as its `${NAME}`,
    as the file has it: `the store at /data/${TENANT}/x.db cannot be created`.

    A value of 8 characters or more is replaced wherever it appears; a shorter one only where
    it stands alone (not inside a longer word or number), so that a `${PORT}` of `80` does not
    rewrite every 80 of a message.
    """
    names: dict[str, str] = {}
    for s in substitutions:
        for name, value in s.variables:
            if value:
                names.setdefault(value, f"${{{name}}}")
    if not names:
        return message
    alternatives = [
        re.escape(value)
        if len(value) >= _SCRUB_EVERYWHERE
        else rf"(?<![{_WORD}]){re.escape(value)}(?![{_WORD}])"
        for value in sorted(names, key=len, reverse=True)
    ]
    pattern = re.compile("|".join(alternatives))
    return pattern.sub(lambda match: names[match.group(0)], message)


def _substitute(
    text: str,
    env: Mapping[str, str],
    problems: list[ConfigProblem],
    path: str,
    substitutions: list[Substitution] | None,
) -> str:
    if "$" not in text:
        return text
    if "${" not in text:
        return text.replace("$$", "$")  # as the pattern reads it: left to right, in pairs
    taken: list[tuple[str, str]] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            taken.append((name, env[name]))
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

    result = _TOKEN.sub(replace, text)
    if taken and substitutions is not None:
        substitutions.append(Substitution(path, result, tuple(taken)))
    return result


def _shown_forms(s: Substitution) -> list[str]:
    """How a substituted value may appear in a message: quoted (repr) or bare, whole or cut."""
    values = [s.value, *(value for _, value in s.variables)]
    return [form for value in values if value for form in (repr(value), value, *cut_forms(value))]


def _scrub(message: str, texts: Mapping[str, str]) -> str:
    if not texts:
        return message
    # One pass, longest first: a description put in is never scrubbed again.
    pattern = re.compile("|".join(re.escape(t) for t in sorted(texts, key=len, reverse=True)))
    return pattern.sub(lambda match: texts[match.group(0)], message)


def _within(key: str, container: str) -> bool:
    """Whether `key` is `container` itself or a key below it."""
    return not container or key == container or key.startswith((f"{container}.", f"{container}["))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
