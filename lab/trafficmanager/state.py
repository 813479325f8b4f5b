"""The emulator's in-memory Traffic Manager: profiles by subscription and resource group, what
its probing has found for each endpoint, and the monitor statuses computed from both.

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
from lab.trafficmanager.parse import parse_endpoint, parse_profile, validate_endpoints

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
    """Profiles and endpoint health; every write goes through ARM's validation rules."""

    def __init__(self, *, locator: GeoLocator | None = None) -> None:
        self.locator = locator or GeoLocator()
        self._profiles: dict[ProfileKey, Profile] = {}
        self._health: dict[tuple[ProfileKey, str], Health] = {}
        self._subscriptions: set[str] = set()
        self._groups: dict[tuple[str, str], str] = {}  # (sub, rg) lowercased -> rg as created
        # Addresses of hostname targets (cloudapp.azure.com names in the model deployment), so
        # DNS can follow its CNAME with an A record, as a recursive resolver would.
        self.hosts: dict[str, str] = {}

    # Resource groups.

    def add_subscription(self, subscription_id: str) -> None:
        self._subscriptions.add(subscription_id.lower())

    def add_resource_group(self, subscription_id: str, resource_group: str) -> None:
        self.add_subscription(subscription_id)
        self._groups.setdefault((subscription_id.lower(), resource_group.lower()), resource_group)

    def has_subscription(self, subscription_id: str) -> bool:
        return subscription_id.lower() in self._subscriptions

    def _group(self, subscription_id: str, resource_group: str) -> str:
        if not self.has_subscription(subscription_id):
            raise ArmError(
                404,
                "SubscriptionNotFound",
                f"The subscription '{subscription_id}' could not be found.",
            )
        found = self._groups.get((subscription_id.lower(), resource_group.lower()))
        if found is None:
            raise ArmError(
                404,
                "ResourceGroupNotFound",
                f"Resource group '{resource_group}' could not be found.",
            )
        return found

    # Reads.

    def profiles(self) -> list[Profile]:
        return list(self._profiles.values())

    def get_profile(self, subscription_id: str, resource_group: str, name: str) -> Profile:
        group = self._group(subscription_id, resource_group)
        profile = self._profiles.get(
            (subscription_id.lower(), resource_group.lower(), name.lower())
        )
        if profile is None:
            raise _not_found("profile", name, group)
        return profile

    def find_profile(self, name: str, resource_group: str | None = None) -> Profile:
        """The one profile called `name` (in `resource_group`, if given), whatever the
        subscription: a convenience for the lab and tests. Raises KeyError."""
        found = [
            p
            for p in self._profiles.values()
            if p.name.lower() == name.lower()
            and (resource_group is None or p.resource_group.lower() == resource_group.lower())
        ]
        if len(found) != 1:
            raise KeyError(f"{len(found)} profiles called {name!r}")
        return found[0]

    def list_profiles(
        self, subscription_id: str, resource_group: str | None = None
    ) -> list[Profile]:
        if resource_group is not None:
            self._group(subscription_id, resource_group)
        return [
            p
            for key, p in self._profiles.items()
            if key[0] == subscription_id.lower()
            and (resource_group is None or key[1] == resource_group.lower())
        ]

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

    # Writes (ARM semantics).

    def put_profile(
        self, subscription_id: str, resource_group: str, name: str, body: object
    ) -> tuple[Profile, bool]:
        """Create or replace a profile, endpoints included; True when created."""
        group = self._group(subscription_id, resource_group)
        key = (subscription_id.lower(), resource_group.lower(), name.lower())
        old = self._profiles.get(key)
        if isinstance(body, Mapping) and body.get("location") is None:
            raise ArmError(
                400, "LocationRequired", "The location property is required for this definition."
            )
        profile = parse_profile(
            body,
            subscription_id=subscription_id,
            resource_group=group,
            name=old.name if old else name,
            endpoints=None,
            canonical_geo=self.locator.canonical,
        )
        self._store(old, profile)
        return profile, old is None

    def patch_profile(
        self, subscription_id: str, resource_group: str, name: str, body: object
    ) -> Profile:
        old = self.get_profile(subscription_id, resource_group, name)
        if not isinstance(body, Mapping):
            raise bad_request("The request body must be a JSON object.")
        props = body.get("properties")
        if isinstance(props, Mapping) and "endpoints" in props:
            raise bad_request(
                "The 'endpoints' property cannot be specified when updating a profile using "
                "PATCH. Please use PUT to update the profile instead."
            )
        base = {"location": "global", "tags": dict(old.tags), "properties": profile_properties(old)}
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

    def delete_profile(self, subscription_id: str, resource_group: str, name: str) -> bool:
        self._group(subscription_id, resource_group)
        key = (subscription_id.lower(), resource_group.lower(), name.lower())
        old = self._profiles.pop(key, None)
        if old is not None:
            for endpoint in old.endpoints:
                self._health.pop((key, endpoint.name.lower()), None)
        return old is not None

    def put_endpoint(
        self,
        subscription_id: str,
        resource_group: str,
        profile: str,
        kind: str,
        name: str,
        body: object,
    ) -> tuple[Profile, Endpoint, bool]:
        old_profile = self.get_profile(subscription_id, resource_group, profile)
        endpoint_type = self._endpoint_type(kind)
        existing = old_profile.endpoint(name)
        if existing is not None and existing.type is not endpoint_type:
            raise bad_request(f"Endpoint '{name}' already exists with type '{existing.type}'.")
        endpoint = parse_endpoint(
            body,
            name=existing.name if existing else name,
            kind=endpoint_type,
            canonical_geo=self.locator.canonical,
        )
        new_profile = self._with_endpoint(old_profile, endpoint)
        return new_profile, new_profile.endpoint(endpoint.name) or endpoint, existing is None

    def patch_endpoint(
        self,
        subscription_id: str,
        resource_group: str,
        profile: str,
        kind: str,
        name: str,
        body: object,
    ) -> tuple[Profile, Endpoint]:
        old_profile, existing = self.get_endpoint(
            subscription_id, resource_group, profile, kind, name
        )
        if not isinstance(body, Mapping):
            raise bad_request("The request body must be a JSON object.")
        base = {"properties": endpoint_properties(existing)}
        endpoint = parse_endpoint(
            deep_merge(base, body),
            name=existing.name,
            kind=existing.type,
            canonical_geo=self.locator.canonical,
        )
        if endpoint.priority == 0:  # "priority": null in a PATCH keeps the one in use
            endpoint = replace(endpoint, priority=existing.priority)
        new_profile = self._with_endpoint(old_profile, endpoint)
        found = new_profile.endpoint(endpoint.name)
        assert found is not None
        return new_profile, found

    def delete_endpoint(
        self, subscription_id: str, resource_group: str, profile: str, kind: str, name: str
    ) -> bool:
        old = self.get_profile(subscription_id, resource_group, profile)
        existing = old.endpoint(name)
        if existing is None or existing.type is not EndpointType.parse(kind):
            return False
        self._store(
            old, replace(old, endpoints=tuple(e for e in old.endpoints if e is not existing))
        )
        return True

    def _endpoint_type(self, kind: str) -> EndpointType:
        endpoint_type = EndpointType.parse(kind)
        if endpoint_type is None:
            raise bad_request(f"The endpoint type '{kind}' is invalid.")
        return endpoint_type

    def _with_endpoint(self, old: Profile, endpoint: Endpoint) -> Profile:
        endpoints = list(old.endpoints)
        index = next(
            (i for i, e in enumerate(endpoints) if e.name.lower() == endpoint.name.lower()), None
        )
        if index is None:
            if endpoint.priority == 0:
                highest = max((e.priority for e in endpoints), default=0)
                endpoint = replace(endpoint, priority=highest + 1)
            endpoints.append(endpoint)
        else:
            endpoints[index] = endpoint
        profile = replace(old, endpoints=tuple(endpoints))
        validate_endpoints(profile)
        self._store(old, profile)
        return profile

    def _store(self, old: Profile | None, new: Profile) -> None:
        taken = self.profile_by_fqdn(new.fqdn)
        if taken is not None and taken.key != new.key:
            raise ArmError(
                409,
                "Conflict",
                f"The relative DNS name '{new.relative_name}' is not available: it is used by "
                f"another profile.",
            )
        self._profiles[new.key] = new
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
        current = self._profiles.get(profile.key)
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
        return self._monitor_status(profile, endpoint, frozenset())

    def _monitor_status(
        self, profile: Profile, endpoint: Endpoint, seen: frozenset[ProfileKey]
    ) -> MonitorStatus:
        if endpoint.status is Status.DISABLED:
            return MonitorStatus.DISABLED
        if profile.status is Status.DISABLED:
            return MonitorStatus.INACTIVE
        if endpoint.always_serve:
            return MonitorStatus.UNMONITORED
        health = self.health(profile, endpoint)
        if health.forced is not None:
            return health.forced
        if endpoint.type is EndpointType.NESTED:
            return self._nested_status(profile, endpoint, seen | {profile.key})
        return health.status

    def nested_child(self, endpoint: Endpoint) -> Profile | None:
        if endpoint.target_resource_id:
            wanted = endpoint.target_resource_id.lower().rstrip("/")
            found = next((p for p in self._profiles.values() if p.id.lower() == wanted), None)
            if found is not None:
                return found
        return self.profile_by_fqdn(endpoint.target) if endpoint.target else None

    def _nested_status(
        self, profile: Profile, endpoint: Endpoint, seen: frozenset[ProfileKey]
    ) -> MonitorStatus:
        # A nested endpoint is as healthy as its child profile: Stopped when the child is
        # disabled or has nothing enabled, Degraded below minChildEndpoints healthy children.
        child = self.nested_child(endpoint)
        if child is None or child.key in seen or child.status is Status.DISABLED:
            return MonitorStatus.STOPPED
        statuses = [self._monitor_status(child, e, seen) for e in child.endpoints]
        enabled = [s for s in statuses if s not in (MonitorStatus.DISABLED, MonitorStatus.STOPPED)]
        if not enabled:
            return MonitorStatus.STOPPED
        serving = [s for s in enabled if s in _SERVING]
        if len(serving) < (endpoint.min_child_endpoints or 1):
            return MonitorStatus.DEGRADED
        if all(s is MonitorStatus.CHECKING for s in serving):
            return MonitorStatus.CHECKING
        return MonitorStatus.ONLINE

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
            "tags": dict(profile.tags),
            "location": "global",
            "properties": props,
        }
