"""The traps in how regionwatch itself is deployed that only the doctor can see: the service
would not start on a store it cannot read. (Where the decider runs, whether it may write and
whether deploys are marked are the service's own warnings: see `monitor.doctor.shared`.)"""

from __future__ import annotations

from collections.abc import Iterator

from monitor.doctor.facts import Facts
from monitor.doctor.findings import Finding
from monitor.events import Severity

__all__ = ["store_unreadable"]


def store_unreadable(facts: Facts) -> Iterator[Finding]:
    """The file at `storage.path` exists and cannot be read as the store: whether a deploy
    marker was ever posted cannot be told, and the service would not start on it."""
    store = facts.store
    if store is None or store.error is None:
        return
    yield Finding(
        "store_unreadable",
        Severity.WARNING,
        "storage.path",
        f"the store could not be read to find deploy markers: {store.error}",
        "check storage.path and that this user may read the file and its folder; the "
        "service would not start on a store it cannot use",
    )
