"""Every script's --help only helps: it prints how to use the script and exits 0, without
measuring, installing or rewriting anything."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "docs" / "benchmarks.md"


def scripts() -> list[Path]:
    """The runnable scripts: Python files under bench/ with a main block, and scripts/*."""
    runnable = [
        path
        for path in sorted((ROOT / "bench").glob("*.py"))
        if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8")
    ]
    return runnable + sorted((ROOT / "scripts").iterdir())


def test_the_scripts_include_both_benchmarks_and_the_installer() -> None:
    """The scan finds what it must, so the test below cannot pass by finding nothing."""
    names = {path.name for path in scripts()}
    assert {"dns_round.py", "https_probe.py", "install-debs.sh"} <= names


@pytest.mark.parametrize("script", scripts(), ids=lambda path: path.name)
async def test_help_prints_usage_and_runs_nothing(script: Path) -> None:
    """`SCRIPT --help` exits 0 with its usage, within seconds (a benchmark takes minutes), and
    leaves docs/benchmarks.md as it was."""
    before = BENCHMARKS.read_bytes()
    interpreter = sys.executable if script.suffix == ".py" else "bash"
    process = await asyncio.create_subprocess_exec(
        interpreter,
        str(script),
        "--help",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert out.decode().startswith("usage:"), out.decode()
    assert BENCHMARKS.read_bytes() == before
