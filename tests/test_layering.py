"""The layering of docs/architecture.md: the engine never imports the web app, the web framework or the lab."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "monitor": {"api", "fastapi", "starlette", "uvicorn", "lab", "regionwatch"},
    "api": {"lab", "regionwatch"},
    "lab": {"regionwatch"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_the_layers_above_it(package: str) -> None:
    """No module of a lower layer imports a higher one, even inside a function."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_layering_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The check itself finds a lazy import, so it cannot pass by not looking."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import fastapi\n    from api.app import create_app\n")
    assert imported_modules(module) == {"fastapi", "api"}


# The engine's decision path: pure functions of their arguments, no I/O, no clock of their own.
DECISION_PATH = [
    "monitor/fold.py",
    "monitor/conditions.py",
    "monitor/events.py",
    "monitor/snapshot.py",
    "monitor/evidence.py",
    "monitor/policy.py",
    "monitor/guardrails.py",
    "monitor/deploys.py",
    "monitor/facts.py",
    "monitor/controls.py",
    "monitor/warnings.py",
]
IO = {"asyncio", "sqlite3", "httpx", "socket", "ssl", "azure", "structlog", "time", "random"}


@pytest.mark.parametrize("module", DECISION_PATH)
def test_the_decision_path_does_no_io(module: str) -> None:
    """The fold, the conditions, the events and the policy import nothing that does I/O or
    reads a clock: everything they know comes in as arguments."""
    assert imported_modules(ROOT / module) & IO == set()
