"""The repository stands on its own: a clone with nothing beside it builds, tests and explains
itself, so nothing in it may point at files outside it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Spelled in pieces so this file does not match itself.
OUTSIDE = [
    ".." + "/shared",
    "shared" + "/contract",
    "DESIGN" + ".md",
    "reference" + "/azure-traffic-manager",
    "reference" + "/model-deployment",
]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked_files() -> list[Path]:
    """Every file git tracks (what a clone holds)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def test_no_tracked_file_refers_to_files_outside_the_repository() -> None:
    """No code, test, doc or script names the design notes or contracts kept beside the clone."""
    offenders = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{path.relative_to(ROOT)}: {word}" for word in OUTSIDE if word in text]
    assert offenders == []


def test_no_tracked_file_holds_a_merge_conflict_marker() -> None:
    """A merge left half-resolved never lands: no line starts with a conflict marker."""
    markers = ("<" * 7 + " ", ">" * 7 + " ", "=" * 7 + "\n")
    offenders = []
    for path in tracked_files():
        try:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{n}"
            for n, line in enumerate(lines, 1)
            if line.startswith(markers)
        ]
    assert offenders == []


def test_the_check_outside_finds_a_reference(tmp_path: Path) -> None:
    """The scan sees what it looks for, so it cannot pass by not looking."""
    text = "see ../" + "shared/DESIGN" + ".md"
    assert any(word in text for word in OUTSIDE)


def test_relative_links_in_the_docs_resolve() -> None:
    """Every relative link in a tracked Markdown file points at a file of the repository."""
    broken = []
    for path in tracked_files():
        if path.suffix != ".md":
            continue
        for target in _LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # a URL or an anchor in the same page
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)} → {target}")
    assert broken == []


@pytest.mark.parametrize("name", ["check.schema.json"])
def test_the_contract_schemas_are_valid_json_schema(name: str) -> None:
    """The repository's own copy of the `check --json` contract is a valid JSON Schema."""
    schema = json.loads((ROOT / "docs" / "contract" / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
