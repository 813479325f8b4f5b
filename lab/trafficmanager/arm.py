"""The ARM routes of Traffic Manager that the SDK uses (docs/traffic-manager.md), over the state.

Paths are split on `/`, each segment percent-decoded, and matched case-insensitively: the SDK
sends `trafficmanagerprofiles` and `ExternalEndpoints`, responses spell `trafficManagerProfiles`
and `externalEndpoints`, and endpoint names may hold `%20` or `%2F`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lab.trafficmanager.entra import Directory, ServicePrincipal
from lab.trafficmanager.errors import ArmError
from lab.trafficmanager.httpserver import HttpRequest, HttpResponse
from lab.trafficmanager.model import TM_SUFFIX, EndpointType
from lab.trafficmanager.state import TrafficManagerState
from monitor.trafficmanager.geography import hierarchy_json

__all__ = ["Arm", "ArmAnswer"]

_NETWORK = "microsoft.network"
_PROFILES = "trafficmanagerprofiles"
_PERMISSIONS = ["providers", "microsoft.authorization", "permissions"]
_PROFILE_ACTION = "Microsoft.Network/trafficManagerProfiles"
_WRITE_METHODS = {"PUT": "write", "PATCH": "write", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class ArmAnswer:
    response: HttpResponse
    client_id: str | None  # the authenticated caller, if any


def _not_found_route(path: str) -> ArmError:
    return ArmError(
        404,
        "InvalidResourceType",
        f"The resource type could not be found for the path '{path}'.",
    )


def _method_not_allowed(method: str) -> ArmError:
    return ArmError(405, "MethodNotAllowed", f"The HTTP method '{method}' is not supported.")


class Arm:
    """Answers ARM requests: authentication, api-version, routing, authorization, semantics."""

    def __init__(self, state: TrafficManagerState, directory: Directory) -> None:
        self.state = state
        self.directory = directory

    def answer(self, request: HttpRequest, segments: Sequence[str]) -> ArmAnswer:
        principal: ServicePrincipal | None = None
        try:
            _, principal = self.directory.authenticate(request.headers.get("authorization"))
            if not request.param("api-version"):
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            response = self._route(request, list(segments), principal)
        except ArmError as exc:
            response = HttpResponse.of_json(exc.status, exc.body(), list(exc.headers.items()))
        return ArmAnswer(response, principal.client_id if principal else None)

    def _authorize(self, principal: ServicePrincipal, action: str, scope: str) -> None:
        if not principal.may(action):
            raise ArmError(
                403,
                "AuthorizationFailed",
                f"The client '{principal.client_id}' with object id '{principal.object_id}' does "
                f"not have authorization to perform action '{action}' over scope '{scope}' or the "
                "scope is invalid. If access was recently granted, please refresh your credentials.",
            )

    def _route(
        self, request: HttpRequest, segments: list[str], principal: ServicePrincipal
    ) -> HttpResponse:
        low = [s.lower() for s in segments]
        method = request.method.upper()
        scope = "/" + "/".join(segments)
        if low[:3] == ["providers", _NETWORK, "trafficmanagergeographichierarchies"]:
            if low[3:] != ["default"]:
                raise _not_found_route(scope)
            if method != "GET":
                raise _method_not_allowed(method)
            return HttpResponse.of_json(200, hierarchy_json(self.state.locator.hierarchy))
        if low == ["providers", _NETWORK, "checktrafficmanagernameavailability"]:
            if method != "POST":
                raise _method_not_allowed(method)
            return self._name_availability(request)
        if len(low) < 2 or low[0] != "subscriptions":
            raise _not_found_route(scope)
        sub = segments[1]
        if not self.state.has_subscription(sub):
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
            )
        if low[-3:] == _PERMISSIONS:
            # Microsoft.Authorization/permissions at any scope under the subscription.
            if method != "GET":
                raise _method_not_allowed(method)
            return self._permissions(principal)
        rest = low[2:]
        if rest == ["providers", _NETWORK, _PROFILES]:
            return self._list(method, principal, scope, sub, None)
        if rest == ["providers", _NETWORK, "checktrafficmanagernameavailabilityv2"]:
            if method != "POST":
                raise _method_not_allowed(method)
            return self._name_availability(request)
        if (
            len(rest) < 5
            or rest[0] != "resourcegroups"
            or rest[2:5] != ["providers", _NETWORK, _PROFILES]
        ):
            raise _not_found_route(scope)
        group = segments[3]
        tail = segments[7:]
        if not tail:
            return self._list(method, principal, scope, sub, group)
        if len(tail) == 1:
            return self._profile(request, method, principal, scope, sub, group, tail[0])
        if len(tail) == 3 and EndpointType.parse(tail[1]) is not None:
            return self._endpoint(request, method, principal, scope, sub, group, tail)
        raise _not_found_route(scope)

    def _permissions(self, principal: ServicePrincipal) -> HttpResponse:
        # Listing one's own permissions needs no permission (Microsoft.Authorization docs).
        return HttpResponse.of_json(
            200,
            {
                "value": [
                    {
                        "actions": list(principal.actions),
                        "notActions": list(principal.not_actions),
                        "dataActions": [],
                        "notDataActions": [],
                    }
                ]
            },
        )

    def _name_availability(self, request: HttpRequest) -> HttpResponse:
        body = _json_body(request)
        name = str(body.get("name", "")) if isinstance(body, dict) else ""
        taken = self.state.profile_by_fqdn(f"{name}.{TM_SUFFIX}") is not None
        answer: dict[str, object] = {
            "name": name,
            "type": "Microsoft.Network/trafficManagerProfiles",
            "nameAvailable": not taken,
        }
        if taken:
            answer |= {
                "reason": "AlreadyExists",
                "message": f"{name}.{TM_SUFFIX} is already taken. Please try a different name.",
            }
        return HttpResponse.of_json(200, answer)

    def _list(
        self,
        method: str,
        principal: ServicePrincipal,
        scope: str,
        sub: str,
        group: str | None,
    ) -> HttpResponse:
        if method != "GET":
            raise _method_not_allowed(method)
        self._authorize(principal, f"{_PROFILE_ACTION}/read", scope)
        profiles = self.state.list_profiles(sub, group)
        return HttpResponse.of_json(200, {"value": [self.state.profile_json(p) for p in profiles]})

    def _profile(
        self,
        request: HttpRequest,
        method: str,
        principal: ServicePrincipal,
        scope: str,
        sub: str,
        group: str,
        name: str,
    ) -> HttpResponse:
        verb = "read" if method == "GET" else _WRITE_METHODS.get(method)
        if verb is None:
            raise _method_not_allowed(method)
        self._authorize(principal, f"{_PROFILE_ACTION}/{verb}", scope)
        state = self.state
        if method == "GET":
            return HttpResponse.of_json(
                200, state.profile_json(state.get_profile(sub, group, name))
            )
        if method == "DELETE":
            if state.delete_profile(sub, group, name):
                return HttpResponse.of_json(200, {"boolean": True})
            return HttpResponse(204)
        body = _json_body(request)
        if method == "PUT":
            profile, created = state.put_profile(sub, group, name, body)
            return HttpResponse.of_json(201 if created else 200, state.profile_json(profile))
        return HttpResponse.of_json(
            200, state.profile_json(state.patch_profile(sub, group, name, body))
        )

    def _endpoint(
        self,
        request: HttpRequest,
        method: str,
        principal: ServicePrincipal,
        scope: str,
        sub: str,
        group: str,
        tail: Sequence[str],
    ) -> HttpResponse:
        profile_name, kind, name = tail
        endpoint_type = EndpointType.parse(kind)
        assert endpoint_type is not None
        verb = "read" if method == "GET" else _WRITE_METHODS.get(method)
        if verb is None:
            raise _method_not_allowed(method)
        self._authorize(principal, f"{_PROFILE_ACTION}/{endpoint_type.segment}/{verb}", scope)
        state = self.state
        if method == "GET":
            profile, endpoint = state.get_endpoint(sub, group, profile_name, kind, name)
            return HttpResponse.of_json(200, state.endpoint_json(profile, endpoint))
        if method == "DELETE":
            if state.delete_endpoint(sub, group, profile_name, kind, name):
                return HttpResponse.of_json(200, {"boolean": True})
            return HttpResponse(204)
        body = _json_body(request)
        if method == "PUT":
            profile, endpoint, created = state.put_endpoint(
                sub, group, profile_name, kind, name, body
            )
            return HttpResponse.of_json(
                201 if created else 200, state.endpoint_json(profile, endpoint)
            )
        profile, endpoint = state.patch_endpoint(sub, group, profile_name, kind, name, body)
        return HttpResponse.of_json(200, state.endpoint_json(profile, endpoint))


def _json_body(request: HttpRequest) -> object:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: {exc}",
        ) from exc
