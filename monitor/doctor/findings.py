"""What the doctor reports: one finding per trap found, each saying what is wrong and what to do."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.events import Severity

__all__ = ["Finding", "is_problem", "ordered"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One trap found.

    `code` is stable (scripts match on it, docs/doctor.md lists every one), `subject` the
    endpoint, region, request or key it names, `message` one line saying what is wrong and
    `fix` one line saying what to do. Neither ever quotes a secret."""

    code: str
    severity: Severity
    subject: str
    message: str
    fix: str


def is_problem(finding: Finding) -> bool:
    """A problem (warning or critical) fails the doctor; an info finding is a notice."""
    return finding.severity is not Severity.INFO


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """The most severe first; within a severity, in the order the checks found them."""
    found: Sequence[Finding] = list(findings)
    return sorted(found, key=lambda f: -f.severity.rank)
