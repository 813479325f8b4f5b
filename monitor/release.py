"""This release's version, read once from the installed package's metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["RELEASE"]


def _installed() -> str:
    try:
        return version("regionwatch")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


RELEASE = _installed()
