"""The lab's fault panel over HTTP: deploy a version, break a region, heal it.

Loopback only and unauthenticated by design: it exists to break things on purpose, so it
refuses any client that is not on this machine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal, Protocol, TypeVar

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from lab.alertreceivers import AlertReceivers, alert_routes
from lab.faults import Target, fault_catalogue, faults_of
from lab.httpserver import PathCut
from lab.origin import RegionalOrigin
from lab.resolvers import LabResolver
from lab.trafficmanager import TrafficManagerEmulator

__all__ = ["Catalogue", "control_router", "describe_faults"]

# Fault name → (what it does, parameter → (what it means, its default as JSON)).
Catalogue = Mapping[str, tuple[str, Mapping[str, tuple[str, str]]]]


def _loopback_only(request: Request) -> None:
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HTTPException(403, "the lab's fault panel answers loopback clients only")


class StatusBody(BaseModel):
    status: Literal["Enabled", "Disabled"]


class MonitorBody(BaseModel):
    status: Literal["CheckingEndpoint", "Online", "Degraded", "Stopped"] | None


class ArmFaultBody(BaseModel):
    status: int | None = Field(
        503, description="the HTTP status ARM answers (429, 5xx, 401, 403, 404); null: only delay"
    )
    method: str | None = Field(None, description="only requests with this method (GET, PATCH)")
    path_contains: str | None = Field(
        None, description="only requests whose path contains this, e.g. `trafficmanagerprofiles`"
    )
    count: int | None = Field(1, description="how many requests it hits; null: every one")
    retry_after: float | None = Field(
        None, description="seconds sent as `Retry-After` (with 429 or 503)"
    )
    delay: float = Field(0.0, description="seconds to wait before answering")


def describe_faults(catalogue: Catalogue) -> str:
    """A fault catalogue as Markdown: each fault, what it does, and its parameters."""
    lines = []
    for name, (meaning, params) in catalogue.items():
        taken = (
            "; ".join(
                f"`{p}`: {text} (default `{default}`)" for p, (text, default) in params.items()
            )
            or "none"
        )
        lines.append(f"- `{name}`: {meaning}. Parameters: {taken}.")
    return "\n".join(lines)


def control_router(
    origins: Mapping[str, RegionalOrigin],
    traffic_manager: TrafficManagerEmulator | None = None,
    resolvers: Mapping[str, LabResolver] | None = None,
    alerts: AlertReceivers | None = None,
    vantage_points: Mapping[str, str] | None = None,
) -> APIRouter:
    """Routes under /lab for the given origins (and Traffic Manager emulator, resolvers, alert
    receivers, and the vantage points' source addresses by name, whose paths can be cut)."""
    router = APIRouter(prefix="/lab", tags=["lab"], dependencies=[Depends(_loopback_only)])
    if traffic_manager is not None:
        router.include_router(_traffic_manager_routes(traffic_manager))
    if resolvers:
        router.include_router(_resolver_routes(resolvers))
    if alerts is not None:
        router.include_router(alert_routes(alerts))

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
        document: dict[str, Any] = {
            "regions": {name: state(o) for name, o in origins.items()},
            "faults": [f.value for f in faults_of(Target.ORIGIN)],
        }
        if traffic_manager is not None:
            document["traffic_manager"] = _tm_state(traffic_manager)
        if resolvers:
            document["resolvers"] = {name: _resolver_state(r) for name, r in resolvers.items()}
        if alerts is not None:
            document["alerts"] = alerts.summary()
        return document

    @router.post("/regions/{region}/deploy", summary="Roll out a release to one region")
    async def deploy(region: str, version: Annotated[str, Body(embed=True)]) -> dict[str, Any]:
        origin = origin_of(region)
        try:
            origin.deploy(version)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return state(origin)

    async def settled(origin: RegionalOrigin) -> None:
        await origin.settled()  # refusing/re-binding the listener finishes in a task

    _fault_routes(
        router, "/regions", origin_of, state, settled, what="region", catalogue=fault_catalogue()
    )
    if vantage_points:
        router.include_router(_path_routes(origins, vantage_points, origin_of))

    return router


def _path_routes(
    origins: Mapping[str, RegionalOrigin],
    vantage_points: Mapping[str, str],
    origin_of: Callable[[str], RegionalOrigin],
) -> APIRouter:
    """`/paths`: one vantage point's path to one region, cut (refused, black-holed or slow one
    way) and restored; the region answers every other vantage point as before."""
    router = APIRouter(prefix="/paths")

    def address_of(vantage: str) -> str:
        if vantage not in vantage_points:
            known = ", ".join(vantage_points)
            raise HTTPException(404, f"unknown vantage point {vantage!r}; vantage points: {known}")
        return vantage_points[vantage]

    def paths() -> dict[str, Any]:
        every = []
        for vantage, address in vantage_points.items():
            for region, origin in origins.items():
                cut = origin.cut_paths.get(address)
                state = {"state": "open"} if cut is None else {"state": "cut", **cut}
                every.append({"vantage": vantage, "region": region, **state})
        return {
            "vantage_points": dict(vantage_points),
            "cut": {name: o.cut_paths for name, o in origins.items() if o.cut_paths},
            "paths": every,
        }

    @router.get(
        "",
        summary="The vantage points' source addresses, the paths cut, and every vantage "
        "point × region path (`open`, or `cut` with how)",
    )
    async def listed() -> dict[str, Any]:
        return paths()

    @router.post(
        "/{vantage}/{region}/cut",
        summary="Cut one vantage point's path to one region",
        description="`how`: `blackhole` (default: its connections are held and never answered, "
        "as a dropped route), `refuse` (cut at once) or `slow` (every answer waits `delay` "
        "seconds). Other vantage points are untouched.",
    )
    async def cut(
        vantage: str,
        region: str,
        how: Annotated[PathCut, Body(embed=True)] = PathCut.BLACKHOLE,
        delay: Annotated[float, Body(embed=True, ge=0, le=600)] = 10.0,
    ) -> dict[str, Any]:
        origin_of(region).cut_path(address_of(vantage), how, delay=delay)
        return paths()

    @router.post("/{vantage}/{region}/restore", summary="Restore one vantage point's path")
    async def restore(vantage: str, region: str) -> dict[str, Any]:
        origin_of(region).restore_path(address_of(vantage))
        return paths()

    return router


def _tm_state(tm: TrafficManagerEmulator) -> dict[str, Any]:
    profile = tm.profile()
    return {
        "base_url": tm.base_url,
        "dns_port": tm.dns_port,
        "endpoints": {
            e.name: {
                "target": e.target,
                "endpoint_status": e.status.value,
                "monitor_status": tm.state.monitor_status(profile, e).value,
            }
            for e in profile.endpoints
        },
        "arm_faults": len(tm.faults.pending()),
    }


def _traffic_manager_routes(tm: TrafficManagerEmulator) -> APIRouter:
    """What an operator or Azure itself could do to the profile behind the service's back."""
    router = APIRouter(prefix="/traffic-manager")

    def endpoint_of(name: str) -> Any:
        endpoint = tm.profile().endpoint(name)
        if endpoint is None:
            raise HTTPException(404, f"no endpoint {name!r} in the lab profile")
        return endpoint

    @router.get("", summary="The emulated profile's endpoints as Traffic Manager sees them")
    async def view() -> dict[str, Any]:
        return _tm_state(tm)

    @router.post(
        "/endpoints/{name}/status",
        summary="Enable or disable an endpoint, as an operator in the Azure portal would",
    )
    async def set_status(name: str, body: StatusBody) -> dict[str, Any]:
        tm.set_endpoint_status(endpoint_of(name).name, body.status)
        return _tm_state(tm)

    @router.post(
        "/endpoints/{name}/monitor-status",
        summary="Pin what Traffic Manager's probing says of an endpoint (null releases it)",
    )
    async def force(name: str, body: MonitorBody) -> dict[str, Any]:
        tm.force_monitor_status(endpoint_of(name).name, body.status)
        return _tm_state(tm)

    @router.post(
        "/faults",
        summary="Make ARM answer the next requests with an error or slowly",
        description="Queues a fault for the emulator's HTTPS side, Entra ID's token endpoint "
        "and Resource Manager alike (narrow it with `path_contains`): the next `count` matching "
        "requests are answered `status` after `delay` seconds. Example: "
        '`{"status": 429, "retry_after": 2, "count": 3, "path_contains": "trafficmanagerprofiles"}`.',
    )
    async def add_fault(body: ArmFaultBody) -> dict[str, Any]:
        headers = {"Retry-After": f"{body.retry_after:g}"} if body.retry_after is not None else None
        try:
            tm.faults.add(
                method=body.method,
                path_contains=body.path_contains,
                status=body.status,
                headers=headers,
                count=body.count,
                delay=body.delay,
            )
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return _tm_state(tm)

    @router.delete("/faults", summary="Clear ARM faults")
    async def clear_faults() -> dict[str, Any]:
        tm.faults.clear()
        return _tm_state(tm)

    return router


def _resolver_state(resolver: LabResolver) -> dict[str, Any]:
    return {
        "address": resolver.address,
        "port": resolver.port,
        "subnet": resolver.subnet,
        "faults": resolver.faults(),
    }


def _resolver_routes(resolvers: Mapping[str, LabResolver]) -> APIRouter:
    """Break and heal the lab's resolvers, one geography at a time."""
    router = APIRouter(prefix="/resolvers")

    def resolver_of(name: str) -> LabResolver:
        if name not in resolvers:
            raise HTTPException(
                404, f"unknown resolver {name!r}; resolvers: {', '.join(resolvers)}"
            )
        return resolvers[name]

    _fault_routes(
        router,
        "",
        resolver_of,
        _resolver_state,
        None,
        what="resolver",
        catalogue=fault_catalogue(Target.RESOLVER),
    )

    return router


class _Breakable(Protocol):
    """What the panel can break and heal: an origin or a resolver."""

    def inject(self, fault: Any, **params: Any) -> None: ...

    def heal(self, fault: Any = None) -> None: ...


B = TypeVar("B", bound=_Breakable)


def _fault_routes(
    router: APIRouter,
    prefix: str,
    lookup: Callable[[str], B],
    state: Callable[[B], dict[str, Any]],
    settle: Callable[[B], Awaitable[None]] | None,
    *,
    what: str,
    catalogue: Catalogue,
) -> None:
    """Inject, heal one and heal all, for things looked up by name under `prefix`; the inject
    route documents every fault of `catalogue` and its parameters."""

    async def done(target: B) -> dict[str, Any]:
        if settle is not None:
            await settle(target)
        return state(target)

    @router.post(
        prefix + "/{name}/faults/{fault}",
        summary=f"Inject a {what} fault (JSON body: its parameters, e.g. " + '{"status": 503})',
        description=f"Switches a fault on for one {what}; injecting it again replaces its "
        "parameters. The optional JSON body holds the parameters, each with a default. "
        f"The faults:\n\n{describe_faults(catalogue)}",
    )
    async def inject(
        name: str, fault: str, params: Annotated[dict[str, Any] | None, Body()] = None
    ) -> dict[str, Any]:
        target = lookup(name)
        try:
            target.inject(fault, **(params or {}))
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return await done(target)

    @router.delete(prefix + "/{name}/faults/{fault}", summary=f"Heal one {what} fault")
    async def heal_one(name: str, fault: str) -> dict[str, Any]:
        target = lookup(name)
        try:
            target.heal(fault)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return await done(target)

    @router.post(prefix + "/{name}/heal", summary=f"Heal every fault of one {what}")
    async def heal_all(name: str) -> dict[str, Any]:
        target = lookup(name)
        target.heal()
        return await done(target)
