"""The seam every probe kind implements."""

from __future__ import annotations

from typing import Protocol

from monitor.results import CheckResult

__all__ = ["Probe"]


class Probe(Protocol):
    """One check of one target.

    `probe()` makes exactly one attempt under one timeout and reports what it saw. It never
    raises for anything the target did: a broken target is a DOWN result, and a failure on our
    side (our network, our resolver, our bug) is an ERROR result. Samples, thresholds, retries
    and quorum belong to the engine and the policy, not here.
    """

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def region(self) -> str: ...

    async def probe(self) -> CheckResult: ...
