"""The ARM routes of Traffic Manager the service calls through the SDK (docs/traffic-manager.md,
"The emulator"): the profile GET, the endpoint PATCH, the geographic hierarchy and the
permissions listing, over the state.

Paths are split on `/`, each segment percent-decoded, and matched case-insensitively: the SDK
sends `trafficmanagerprofiles` and `ExternalEndpoints`, responses spell `trafficManagerProfiles`
and `externalEndpoints`, and endpoint names may hold `%20` or `%2F`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lab.httpserver import HttpRequest, HttpResponse
from lab.trafficmanager.entra import Directory, ServicePrincipal
from lab.trafficmanager.errors import ArmError
from lab.trafficmanager.model import EndpointType
from lab.trafficmanager.state import TrafficManagerState
from monitor.trafficmanager.geography import hierarchy_json

__all__ = ["Arm", "ArmAnswer"]

_NETWORK = "microsoft.network"
_PROFILES = "trafficmanagerprofiles"
_PERMISSIONS = ["providers", "microsoft.authorization", "permissions"]
_PROFILE_ACTION = "Microsoft.Network/trafficManagerProfiles"


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
        if len(low) < 2 or low[0] != "subscriptions":
            raise _not_found_route(scope)
        self.state.check_subscription(segments[1])
        if low[-3:] == _PERMISSIONS:
            # Microsoft.Authorization/permissions at any scope under the subscription.
            if method != "GET":
                raise _method_not_allowed(method)
            return self._permissions(principal)
        rest = low[2:]
        if (
            len(rest) < 6
            or rest[0] != "resourcegroups"
            or rest[2:5] != ["providers", _NETWORK, _PROFILES]
        ):
            raise _not_found_route(scope)
        sub, group, tail = segments[1], segments[3], segments[7:]
        if len(tail) == 1:
            if method != "GET":
                raise _method_not_allowed(method)
            self._authorize(principal, f"{_PROFILE_ACTION}/read", scope)
            profile = self.state.get_profile(sub, group, tail[0])
            return HttpResponse.of_json(200, self.state.profile_json(profile))
        if len(tail) == 3 and EndpointType.parse(tail[1]) is not None:
            if method != "PATCH":
                raise _method_not_allowed(method)
            self._authorize(principal, f"{_PROFILE_ACTION}/externalEndpoints/write", scope)
            profile, endpoint = self.state.patch_endpoint(
                sub, group, tail[0], tail[1], tail[2], _json_body(request)
            )
            return HttpResponse.of_json(200, self.state.endpoint_json(profile, endpoint))
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


def _json_body(request: HttpRequest) -> object:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: {exc}",
        ) from exc
