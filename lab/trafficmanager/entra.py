"""The emulated Entra ID: one tenant, its service principals (with their role's actions), the
OAuth 2.0 client-credentials token endpoint MSAL uses, and ARM's bearer-token check.

Tokens are opaque strings remembered with their client, audience and expiry
(docs/traffic-manager.md): an expired one is refused by ARM with `ExpiredAuthenticationToken`, as Azure does.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from lab.httpserver import HttpRequest, HttpResponse
from lab.trafficmanager.errors import ArmError
from monitor.clock import Clock

__all__ = [
    "ARM_AUDIENCES",
    "CONTRIBUTOR_ACTIONS",
    "READER_ACTIONS",
    "Directory",
    "IssuedToken",
    "ServicePrincipal",
    "entra_response",
]

ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
# The role definitions' actions: Reader, and the "Traffic Manager Contributor" built-in role.
READER_ACTIONS = ("Microsoft.Network/trafficManagerProfiles/read", "*/read")
CONTRIBUTOR_ACTIONS = (
    "Microsoft.Network/trafficManagerProfiles/*",
    "Microsoft.Authorization/*/read",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
)


def _pattern(action: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in action.split("*")), re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    """An app registration with a secret and the actions of the role assigned to it on the
    emulator's subscription."""

    client_id: str
    secret: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def may(self, action: str) -> bool:
        """ARM's check: some action matches, no notAction does (`*` matches anything)."""
        allowed = any(_pattern(a).fullmatch(action) for a in self.actions)
        return allowed and not any(_pattern(n).fullmatch(action) for n in self.not_actions)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    client_id: str
    audience: str
    issued_at: float
    expires_at: float


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%m/%d/%Y %H:%M:%S")


class Directory:
    """One Entra tenant: service principals, issued tokens, and ARM's token validation."""

    def __init__(self, tenant_id: str, *, clock: Clock, token_lifetime: int = 3600) -> None:
        self.tenant_id = tenant_id
        self.clock = clock
        self.token_lifetime = token_lifetime  # seconds; `expires_in` of every token issued
        self.audiences: list[str] = list(ARM_AUDIENCES)
        self.authority = ""  # the emulator's base URL, once it listens
        self.issued: list[IssuedToken] = []
        self._principals: dict[str, ServicePrincipal] = {}
        self._tokens: dict[str, IssuedToken] = {}

    def add(
        self,
        client_id: str | None = None,
        secret: str | None = None,
        *,
        actions: Sequence[str] = CONTRIBUTOR_ACTIONS,
        not_actions: Sequence[str] = (),
    ) -> ServicePrincipal:
        """Register a service principal; a random client id and secret unless given."""
        principal = ServicePrincipal(
            client_id=client_id or str(uuid.uuid4()),
            secret=secret if secret is not None else secrets.token_urlsafe(24),
            actions=tuple(actions),
            not_actions=tuple(not_actions),
        )
        self._principals[principal.client_id.lower()] = principal
        return principal

    def assign(
        self, client_id: str, *, actions: Sequence[str], not_actions: Sequence[str] = ()
    ) -> ServicePrincipal:
        """Replace a principal's role assignment, as an administrator would in Azure: its
        tokens stay valid, and from now on ARM allows (and the permissions listing shows)
        the new actions."""
        found = self.principal(client_id)
        if found is None:
            raise KeyError(client_id)
        updated = replace(found, actions=tuple(actions), not_actions=tuple(not_actions))
        self._principals[client_id.lower()] = updated
        return updated

    def principal(self, client_id: str) -> ServicePrincipal | None:
        return self._principals.get(client_id.lower())

    # The token endpoint.

    def issue(self, form: Mapping[str, str]) -> IssuedToken:
        """Run the client-credentials grant; raises _OAuthError as Entra answers."""
        grant = form.get("grant_type")
        if grant != "client_credentials":
            raise _OAuthError(
                400,
                "unsupported_grant_type",
                70003,
                f"AADSTS70003: The app requested an unsupported grant type '{grant}'.",
            )
        for required in ("client_id", "scope"):
            if not form.get(required):
                raise _OAuthError(
                    400,
                    "invalid_request",
                    900144,
                    f"AADSTS900144: The request body must contain the following parameter: "
                    f"'{required}'.",
                )
        client_id, scope = form["client_id"], form["scope"]
        principal = self.principal(client_id)
        if principal is None:
            raise _OAuthError(
                400,
                "unauthorized_client",
                700016,
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the "
                f"directory '{self.tenant_id}'.",
            )
        self._authenticate_client(principal, form)
        audience = self._audience(scope)
        now = self.clock.now().timestamp()
        issued = IssuedToken(
            token=f"emu.{secrets.token_urlsafe(32)}",
            client_id=principal.client_id,
            audience=audience,
            issued_at=now,
            expires_at=now + self.token_lifetime,
        )
        self._tokens[issued.token] = issued
        self.issued.append(issued)
        return issued

    def _authenticate_client(self, principal: ServicePrincipal, form: Mapping[str, str]) -> None:
        if "client_secret" not in form:
            raise _OAuthError(
                401,
                "invalid_client",
                7000218,
                "AADSTS7000218: The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
            )
        if not hmac.compare_digest(form["client_secret"].encode(), principal.secret.encode()):
            raise _OAuthError(
                401,
                "invalid_client",
                7000215,
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent "
                "in the request is the client secret value, not the client secret ID, for a "
                f"secret added to app '{principal.client_id}'.",
            )

    def _audience(self, scope: str) -> str:
        first = scope.split()[0]
        if not first.endswith("/.default"):
            raise _OAuthError(
                400,
                "invalid_scope",
                1002012,
                f"AADSTS1002012: The provided value for scope {first} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        audience = first.removesuffix("/.default").rstrip("/")
        if audience.lower() not in (a.lower().rstrip("/") for a in self.audiences):
            raise _OAuthError(
                400,
                "invalid_resource",
                500011,
                f"AADSTS500011: The resource principal named {audience} was not found in the "
                f"tenant named {self.tenant_id}.",
            )
        return audience

    # ARM's side: who is calling.

    def authenticate(self, authorization: str | None) -> tuple[IssuedToken, ServicePrincipal]:
        """The token and principal behind an `Authorization` header; raises a 401 ArmError."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise self._unauthorized(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                "The authentication failed because of missing 'Authorization' header.",
            )
        token = self._tokens.get(authorization[7:].strip())
        principal = self.principal(token.client_id) if token else None
        if token is None or principal is None:
            raise self._unauthorized(
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                "The access token is invalid.",
            )
        now = self.clock.now().timestamp()
        if now >= token.expires_at:
            raise self._unauthorized(
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{_utc(token.expires_at)}' is earlier than "
                f"current UTC time '{_utc(now)}'.",
                "The access token has expired.",
            )
        if token.audience.lower() not in (a.lower().rstrip("/") for a in ARM_AUDIENCES):
            raise self._unauthorized(
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource "
                f"'{token.audience}'. It should exactly match with one of the allowed audiences "
                f"'{', '.join(ARM_AUDIENCES)}'.",
                "The access token has been obtained for wrong audience or resource.",
            )
        return token, principal

    def _unauthorized(self, code: str, message: str, description: str) -> ArmError:
        challenge = (
            f'Bearer authorization_uri="{self.authority}/{self.tenant_id}", '
            f'error="invalid_token", error_description="{description}"'
        )
        return ArmError(401, code, message, headers={"WWW-Authenticate": challenge})

    def openid_configuration(self) -> dict[str, Any]:
        base = f"{self.authority}/{self.tenant_id}"
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
        }


def _oauth_error_response(directory: Directory, exc: _OAuthError) -> HttpResponse:
    now = directory.clock.now().timestamp()
    return HttpResponse.of_json(
        exc.status,
        {
            "error": exc.error,
            "error_description": exc.description,
            "error_codes": [exc.code],
            "timestamp": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
            "error_uri": f"{directory.authority}/error?code={exc.code}",
        },
    )


def entra_response(
    directory: Directory, request: HttpRequest, segments: Sequence[str]
) -> HttpResponse | None:
    """Answer an Entra ID route (`segments` are the decoded path segments), or None if the path
    is not one."""
    lowered = [s.lower() for s in segments]
    if len(lowered) < 3 or lowered[1:] not in (
        ["v2.0", ".well-known", "openid-configuration"],
        ["oauth2", "v2.0", "token"],
    ):
        return None
    if lowered[0] != directory.tenant_id.lower():
        return _oauth_error_response(
            directory,
            _OAuthError(
                400,
                "invalid_tenant",
                90002,
                f"AADSTS90002: Tenant '{segments[0]}' not found.",
            ),
        )
    if lowered[1] == "v2.0":
        if request.method != "GET":
            return HttpResponse.of_json(405, {"error": "method_not_allowed"})
        return HttpResponse.of_json(200, directory.openid_configuration())
    if request.method != "POST":
        return HttpResponse.of_json(405, {"error": "method_not_allowed"})
    form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
    try:
        issued = directory.issue(form)
    except _OAuthError as exc:
        return _oauth_error_response(directory, exc)
    lifetime = round(issued.expires_at - issued.issued_at)
    return HttpResponse.of_json(
        200,
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": issued.token,
        },
    )
