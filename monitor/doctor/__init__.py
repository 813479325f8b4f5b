"""`regionwatch doctor`: the traps between a configuration that loads and a deployment that
can actually fail a region over, found before going live.

`gather` reads what the checks judge (the live Traffic Manager profile through the project's
own client, one answer of each cached request from each region, the store without writing it);
`diagnose` runs every check of `CHECKS` over it. Each check is a pure function of `Facts`, in
the module of its group: `profile` (Traffic Manager), `cache` (the requests), `deployment`
(the store), and `shared` (the traps the running service reports too: its own warnings).
docs/doctor.md lists every finding's code.
"""

from monitor.doctor.checks import CHECKS, Check, diagnose
from monitor.doctor.facts import CacheAnswer, Facts, StoreView, gather
from monitor.doctor.findings import Finding, is_problem, ordered

__all__ = [
    "CHECKS",
    "CacheAnswer",
    "Check",
    "Facts",
    "Finding",
    "StoreView",
    "diagnose",
    "gather",
    "is_problem",
    "ordered",
]
