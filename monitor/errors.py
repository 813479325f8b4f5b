"""The project's error tree: every error that crosses a seam is one of these."""

from __future__ import annotations

import re
from collections.abc import Sequence

from monitor.quoting import quoted, shortened

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "ListenError",
    "RegionwatchError",
    "StoreCorrupt",
    "StoreError",
    "TrafficManagerError",
]


class RegionwatchError(Exception):
    """Base of every error regionwatch raises on purpose."""


class ConfigProblem:
    """One thing wrong with a configuration: the key path and what was expected."""

    __slots__ = ("key", "message")

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message

    def __repr__(self) -> str:
        return f"ConfigProblem({self.key!r}, {self.message!r})"


class ConfigError(RegionwatchError):
    """The configuration is wrong. Every line names the file, the key path and what was expected.

    `problems` holds them all; the message shows the first SHOWN_PROBLEMS, then how many more,
    with long keys and messages cut, so a file of many (or huge) wrong values stays readable.
    """

    SHOWN_PROBLEMS = 50
    SHOWN_MESSAGE = 500  # a message quotes values cut short already: this is a backstop

    def __init__(self, file: str, problems: Sequence[ConfigProblem]) -> None:
        self.file = file
        self.problems = tuple(problems)
        lines = []
        for p in self.problems[: self.SHOWN_PROBLEMS]:
            one_line = p.message.replace("\r", "\\r").replace("\n", "\\n")
            message = shortened(one_line, self.SHOWN_MESSAGE)
            lines.append(
                f"{file}: {_shown_key(p.key)}: {message}" if p.key else f"{file}: {message}"
            )
        more = len(self.problems) - self.SHOWN_PROBLEMS
        if more > 0:
            lines.append(f"{file}: and {more:,} more problems")
        super().__init__("\n".join(lines))


def _shown_key(key: str) -> str:
    """A key path with each overlong key in it cut, and quoted when it holds a newline or
    another character that cannot be shown (a key may be any YAML string)."""
    parts = re.split(r"([.\[\]])", key)
    return "".join(shortened(part) if part.isprintable() else quoted(part) for part in parts)


class ListenError(RegionwatchError):
    """The API's address cannot be listened on (port in use, no permission, no such address).
    The message is one line naming the address and what to do."""


class StoreError(RegionwatchError):
    """The history store cannot be used: not opened, migrated, read or written. The message is
    one line: at start-up it names the file and what to do; at run time, a short cause."""


class StoreCorrupt(StoreError):
    """The store's file is not a SQLite database, or SQLite found a damaged page in it."""


class TrafficManagerError(RegionwatchError):
    """A Traffic Manager read or write failed. `retryable` says whether trying again may help
    (throttling, a 5xx, a network failure) or not (authentication, permission, not found).
    The message never carries a token or a secret."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.code = code
        self.retry_after = retry_after
