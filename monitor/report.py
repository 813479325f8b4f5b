"""What `regionwatch check` concludes from a snapshot."""

from __future__ import annotations

from monitor.results import RegionStatus
from monitor.snapshot import Snapshot

__all__ = ["check_passed"]

_SERVING = frozenset({RegionStatus.HEALTHY, RegionStatus.DEGRADED})


def check_passed(snapshot: Snapshot) -> bool:
    """Every region is healthy or degraded and no DNS answer is wrong (`check` exits 0); a
    region failing or unknown, or a DNS answer mismatch, nxdomain, nodata, servfail or timeout
    fails it (exit 1)."""
    regions_ok = all(view.status in _SERVING for view in snapshot.regions.values())
    dns = snapshot.dns.findings if snapshot.dns is not None else ()
    return regions_ok and not any(f.status.wrong for f in dns)
