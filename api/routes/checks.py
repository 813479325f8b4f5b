"""`/api/v1/traffic-manager` and `/api/v1/dns`: the two views beside the regions' verdicts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import get_service, get_snapshot
from api.models import DnsOut, TrafficManagerOut, dns_answer_out, traffic_manager_out
from monitor.service import Service
from monitor.snapshot import Snapshot

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/traffic-manager",
    tags=["traffic manager"],
    summary="Traffic Manager's last-read profile and whether we may write it",
)
async def traffic_manager(service: Annotated[Service, Depends(get_service)]) -> TrafficManagerOut:
    return traffic_manager_out(service.snapshot, service.config.failover.mode)


@router.get("/dns", tags=["dns"], summary="The last DNS round: each resolver × vantage point")
async def dns(snapshot: Annotated[Snapshot, Depends(get_snapshot)]) -> DnsOut:
    view = snapshot.dns
    return DnsOut(
        configured=view is not None,
        checked_at=view.checked_at if view is not None else None,
        site_nxdomain=view.site_nxdomain if view is not None else False,
        dns=[dns_answer_out(f) for f in view.findings] if view is not None else [],
    )
