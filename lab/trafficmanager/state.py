"""The emulator's in-memory Traffic Manager: the profiles of its one subscription and resource
group, what its probing has found for each endpoint, and the monitor statuses computed from both.

Not thread-safe by design: the ARM server, the prober and the DNS servers all run on one asyncio
loop, and tests touch the state from that loop too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lab.trafficmanager.errors import ArmError, bad_request
from lab.trafficmanager.geo import GeoLocator
from lab.trafficmanager.model import (
    PROFILE_TYPE,
    TM_SUFFIX,
    Endpoint,
    EndpointType,
    MonitorStatus,
    Profile,
    ProfileMonitorStatus,
    Status,
    deep_merge,
    endpoint_properties,
    profile_properties,
)
from lab.trafficmanager.parse import parse_endpoint, parse_profile

__all__ = ["Health", "TrafficManagerState"]

Json = dict[str, Any]
ProfileKey = tuple[str, str, str]

# Monitor statuses under which an endpoint is "up" for Traffic Manager.
_SERVING = frozenset({MonitorStatus.ONLINE, MonitorStatus.CHECKING, MonitorStatus.UNMONITORED})


@dataclass(slots=True)
class Health:
    """What probing found for one endpoint: CheckingEndpoint, Online, Degraded or Stopped."""

    status: MonitorStatus = MonitorStatus.CHECKING
    failures: int = 0  # consecutive failed probes
    forced: MonitorStatus | None = None  # the lab's admin hook; probing leaves it alone
    detail: str = ""  # the last probe's outcome, for humans


def _not_found(kind: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "NotFound" if kind == "endpoint" else "ResourceNotFound",
        f"The Resource '{PROFILE_TYPE}/{name}' under resource group '{resource_group}' "
        "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        if kind == "profile"
        else f"Endpoint '{name}' was not found.",
    )


class TrafficManagerState:
    """The profiles of the emulator's one subscription and resource group, and endpoint
    health."""

    def __init__(
        self,
        subscription_id: str = "00000000-0000-0000-0000-000000000000",
        resource_group: str = "blog",
        *,
        locator: GeoLocator | None = None,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.locator = locator or GeoLocator()
        self._profiles: dict[str, Profile] = {}  # by lowercased name
        self._health: dict[tuple[ProfileKey, str], Health] = {}
        # Addresses of hostname targets (cloudapp.azure.com names in the model deployment), so
        # DNS can follow its CNAME with an A record, as a recursive resolver would.
        self.hosts: dict[str, str] = {}

    # Reads.

    def profiles(self) -> list[Profile]:
        return list(self._profiles.values())

    def check_subscription(self, subscription_id: str) -> None:
        """ARM's 404 for any subscription but the emulator's one."""
        if subscription_id.lower() != self.subscription_id.lower():
            raise ArmError(
                404,
                "SubscriptionNotFound",
                f"The subscription '{subscription_id}' could not be found.",
            )

    def get_profile(self, subscription_id: str, resource_group: str, name: str) -> Profile:
        """The profile ARM addresses, or ARM's 404 for a subscription, resource group or
        profile the emulator does not hold."""
        self.check_subscription(subscription_id)
        if resource_group.lower() != self.resource_group.lower():
            raise ArmError(
                404,
                "ResourceGroupNotFound",
                f"Resource group '{resource_group}' could not be found.",
            )
        profile = self._profiles.get(name.lower())
        if profile is None:
            raise _not_found("profile", name, self.resource_group)
        return profile

    def find_profile(self, name: str) -> Profile:
        """The profile called `name`: a convenience for the lab and tests. Raises KeyError."""
        found = self._profiles.get(name.lower())
        if found is None:
            raise KeyError(f"no profile called {name!r}")
        return found

    def profile_by_fqdn(self, fqdn: str) -> Profile | None:
        name = fqdn.lower().rstrip(".")
        return next((p for p in self._profiles.values() if p.fqdn == name), None)

    def get_endpoint(
        self, subscription_id: str, resource_group: str, profile: str, kind: str, name: str
    ) -> tuple[Profile, Endpoint]:
        found = self.get_profile(subscription_id, resource_group, profile)
        endpoint = found.endpoint(name)
        if endpoint is None or endpoint.type is not EndpointType.parse(kind):
            raise _not_found("endpoint", name, found.resource_group)
        return found, endpoint

    # Writes: seeding, the lab's changes behind the service's back, and ARM's endpoint PATCH.

    def put_profile(self, name: str, body: object) -> Profile:
        """Create or replace a profile, endpoints included."""
        old = self._profiles.get(name.lower())
        profile = parse_profile(
            body,
            subscription_id=self.subscription_id,
            resource_group=self.resource_group,
            name=old.name if old else name,
            endpoints=None,
            canonical_geo=self.locator.canonical,
        )
        self._store(old, profile)
        return profile

    def patch_profile(
        self, subscription_id: str, resource_group: str, name: str, body: object
    ) -> Profile:
        """Merge `body` into a profile's settings (its endpoints stay as they are)."""
        old = self.get_profile(subscription_id, resource_group, name)
        if not isinstance(body, Mapping):
            raise bad_request("The request body must be a JSON object.")
        base = {"properties": profile_properties(old)}
        profile = parse_profile(
            deep_merge(base, body),
            subscription_id=old.subscription_id,
            resource_group=old.resource_group,
            name=old.name,
            endpoints=old.endpoints,
            canonical_geo=self.locator.canonical,
        )
        self._store(old, profile)
        return profile

    def patch_endpoint(
        self,
        subscription_id: str,
        resource_group: str,
        profile: str,
        kind: str,
        name: str,
        body: object,
    ) -> tuple[Profile, Endpoint]:
        """ARM's PATCH of an endpoint: `body` deep-merged into what is configured."""
        old_profile, existing = self.get_endpoint(
            subscription_id, resource_group, profile, kind, name
        )
        if not isinstance(body, Mapping):
            raise bad_request("The request body must be a JSON object.")
        base = {"properties": endpoint_properties(existing)}
        endpoint = parse_endpoint(
            deep_merge(base, body), name=existing.name, canonical_geo=self.locator.canonical
        )
        if endpoint.priority == 0:  # "priority": null in a PATCH keeps the one in use
            endpoint = replace(endpoint, priority=existing.priority)
        endpoints = tuple(endpoint if e is existing else e for e in old_profile.endpoints)
        new_profile = replace(old_profile, endpoints=endpoints)
        self._store(old_profile, new_profile)
        return new_profile, endpoint

    def _store(self, old: Profile | None, new: Profile) -> None:
        self._profiles[new.name.lower()] = new
        # What probing knew goes back to CheckingEndpoint whenever it no longer applies: a new
        # endpoint, a re-enabled one or profile, a new target, new probe settings.
        monitor_changed = old is not None and (
            (old.monitor.protocol, old.monitor.port, old.monitor.path)
            != (new.monitor.protocol, new.monitor.port, new.monitor.path)
        )
        profile_reenabled = old is not None and old.status is Status.DISABLED
        keep: set[tuple[ProfileKey, str]] = set()
        for endpoint in new.endpoints:
            key = (new.key, endpoint.name.lower())
            keep.add(key)
            before = old.endpoint(endpoint.name) if old else None
            if (
                before is None
                or before.status is Status.DISABLED
                or endpoint.status is Status.DISABLED
                or before.target != endpoint.target
                or monitor_changed
                or profile_reenabled
            ):
                forced = self._health[key].forced if key in self._health else None
                self._health[key] = Health(forced=forced)
        for key in [k for k in self._health if k[0] == new.key and k not in keep]:
            del self._health[key]

    # Health and monitor statuses.

    def health(self, profile: Profile, endpoint: Endpoint) -> Health:
        return self._health.setdefault((profile.key, endpoint.name.lower()), Health())

    def record_probe(self, profile: Profile, endpoint: Endpoint, ok: bool, detail: str) -> Health:
        """Apply one probe outcome by the documented rules: a success makes the endpoint Online;
        it turns Degraded once consecutive failures exceed toleratedNumberOfFailures.

        Stale results (the endpoint was changed, disabled or deleted meanwhile) are dropped.
        """
        current = self._profiles.get(profile.name.lower())
        now = current.endpoint(endpoint.name) if current else None
        if current is None or now is None or now.target != endpoint.target:
            return Health(detail="stale")
        health = self.health(current, now)
        health.detail = detail
        if ok:
            health.failures = 0
            health.status = MonitorStatus.ONLINE
        else:
            health.failures += 1
            if health.failures > current.monitor.tolerated_failures:
                health.status = MonitorStatus.DEGRADED
        return health

    def force_monitor_status(
        self, profile: Profile, endpoint_name: str, status: MonitorStatus | str | None
    ) -> None:
        """The lab's admin hook: pin an endpoint's probe outcome (Online, Degraded, Stopped,
        CheckingEndpoint) until released with None. Disabled endpoints still show Disabled."""
        endpoint = profile.endpoint(endpoint_name)
        if endpoint is None:
            raise KeyError(endpoint_name)
        forced = None if status is None else MonitorStatus(status)
        if forced not in (None, *_SERVING, MonitorStatus.DEGRADED, MonitorStatus.STOPPED):
            raise ValueError(f"{forced} is computed, not probed; it cannot be forced")
        self.health(profile, endpoint).forced = forced

    def monitor_status(self, profile: Profile, endpoint: Endpoint) -> MonitorStatus:
        """The endpoint monitor status table of docs/traffic-manager.md"""
        if endpoint.status is Status.DISABLED:
            return MonitorStatus.DISABLED
        if profile.status is Status.DISABLED:
            return MonitorStatus.INACTIVE
        if endpoint.always_serve:
            return MonitorStatus.UNMONITORED
        health = self.health(profile, endpoint)
        return health.forced if health.forced is not None else health.status

    def profile_monitor_status(self, profile: Profile) -> ProfileMonitorStatus:
        """The profile monitor status table of docs/traffic-manager.md"""
        if profile.status is Status.DISABLED:
            return ProfileMonitorStatus.DISABLED
        statuses = {self.monitor_status(profile, e) for e in profile.endpoints}
        if MonitorStatus.DEGRADED in statuses:
            return ProfileMonitorStatus.DEGRADED
        if statuses & {MonitorStatus.ONLINE, MonitorStatus.UNMONITORED}:
            return ProfileMonitorStatus.ONLINE
        if MonitorStatus.CHECKING in statuses:
            return ProfileMonitorStatus.CHECKING
        return ProfileMonitorStatus.INACTIVE

    # The REST shapes of docs/traffic-manager.md

    def endpoint_json(self, profile: Profile, endpoint: Endpoint) -> Json:
        props = endpoint_properties(endpoint)
        props["endpointMonitorStatus"] = self.monitor_status(profile, endpoint).value
        return {
            "id": profile.endpoint_id(endpoint),
            "name": endpoint.name,
            "type": endpoint.type.resource_type,
            "properties": props,
        }

    def profile_json(self, profile: Profile) -> Json:
        props = profile_properties(profile)
        props["dnsConfig"]["fqdn"] = f"{profile.relative_name}.{TM_SUFFIX}"
        props["monitorConfig"] = {
            "profileMonitorStatus": self.profile_monitor_status(profile).value,
            **props["monitorConfig"],
        }
        props["endpoints"] = [self.endpoint_json(profile, e) for e in profile.endpoints]
        return {
            "id": profile.id,
            "name": profile.name,
            "type": PROFILE_TYPE,
            "tags": {},
            "location": "global",
            "properties": props,
        }
