"""`regionwatch doctor`: the findings (monitor/doctor) as words for a person, grouped by
severity, or as one JSON document (docs/doctor.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.doctor import Finding, is_problem
from monitor.events import Severity

__all__ = ["document", "render"]

_GROUPS = {
    Severity.CRITICAL: "critical",
    Severity.WARNING: "warnings",
    Severity.INFO: "notices (nothing to fix unless the line says so)",
}


def render(findings: Sequence[Finding]) -> str:
    """Each finding as two lines, what is wrong and what to do, under its severity, the most
    severe first, and a last line counting problems and notices."""
    lines: list[str] = []
    for severity, title in _GROUPS.items():
        group = [f for f in findings if f.severity is severity]
        if not group:
            continue
        if lines:
            lines.append("")
        lines.append(f"{title}:")
        for finding in group:
            lines.append(f"  [{finding.code}] {finding.subject}: {finding.message}")
            lines.append(f"    fix: {finding.fix}")
    if lines:
        lines.append("")
    lines.append(_summary(findings))
    return "\n".join(lines)


def document(findings: Sequence[Finding]) -> dict[str, Any]:
    """The JSON document of `doctor --json`: the findings in the same order, and the counts."""
    problems = sum(1 for f in findings if is_problem(f))
    return {
        "findings": [
            {
                "code": f.code,
                "severity": f.severity.value,
                "subject": f.subject,
                "message": f.message,
                "fix": f.fix,
            }
            for f in findings
        ],
        "problems": problems,
        "notices": len(findings) - problems,
    }


def _summary(findings: Sequence[Finding]) -> str:
    problems = sum(1 for f in findings if is_problem(f))
    notices = len(findings) - problems
    if not problems:
        return f"no problems found ({_count(notices, 'notice')})"
    return f"{_count(problems, 'problem')} found ({_count(notices, 'notice')})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
