"""The lab's fault panel over HTTP: deploy a version, break a region, heal it.

Loopback only and unauthenticated by design: it exists to break things on purpose, so it
refuses any client that is not on this machine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from lab.faults import Fault, ParamValue
from lab.origin import RegionalOrigin

__all__ = ["control_router"]


def _loopback_only(request: Request) -> None:
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HTTPException(403, "the lab's fault panel answers loopback clients only")


def control_router(origins: Mapping[str, RegionalOrigin]) -> APIRouter:
    """Routes under /lab for the given origins."""
    router = APIRouter(prefix="/lab", tags=["lab"], dependencies=[Depends(_loopback_only)])

    def origin_of(region: str) -> RegionalOrigin:
        if region not in origins:
            raise HTTPException(404, f"unknown region {region!r}; regions: {', '.join(origins)}")
        return origins[region]

    def state(origin: RegionalOrigin) -> dict[str, Any]:
        return {
            "address": origin.address,
            "https_port": origin.https_port,
            "http_port": origin.http_port,
            "release": origin.release,
            "faults": origin.faults(),
        }

    @router.get("", summary="Every lab region: address, release and active faults")
    async def panel() -> dict[str, Any]:
        return {
            "regions": {name: state(o) for name, o in origins.items()},
            "faults": [f.value for f in Fault],
        }

    @router.post("/regions/{region}/deploy", summary="Roll out a release to one region")
    async def deploy(region: str, version: Annotated[str, Body(embed=True)]) -> dict[str, Any]:
        origin = origin_of(region)
        try:
            origin.deploy(version)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return state(origin)

    @router.post(
        "/regions/{region}/faults/{fault}",
        summary='Inject a fault (JSON body: its parameters, e.g. {"status": 503, "every": 3})',
    )
    async def inject(
        region: str, fault: str, params: Annotated[dict[str, ParamValue] | None, Body()] = None
    ) -> dict[str, Any]:
        origin = origin_of(region)
        try:
            origin.inject(fault, **(params or {}))
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        await origin.settled()
        return state(origin)

    @router.delete("/regions/{region}/faults/{fault}", summary="Heal one fault")
    async def heal_one(region: str, fault: str) -> dict[str, Any]:
        origin = origin_of(region)
        try:
            origin.heal(fault)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        await origin.settled()
        return state(origin)

    @router.post("/regions/{region}/heal", summary="Heal every fault of one region")
    async def heal_all(region: str) -> dict[str, Any]:
        origin = origin_of(region)
        origin.heal()
        await origin.settled()
        return state(origin)

    return router
