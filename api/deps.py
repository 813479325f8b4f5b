"""What routes depend on: the service and its snapshot, and the token and session checks."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request

from api.sessions import COOKIE, Sessions
from monitor.config import ApiConfig
from monitor.service import Service
from monitor.snapshot import Snapshot

__all__ = [
    "accepted_token",
    "get_service",
    "get_snapshot",
    "require_peer",
    "require_read",
    "require_write",
]


def get_service(request: Request) -> Service:
    """The running service; 503 while it starts or after it stopped."""
    service: Service | None = getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(503, "the service is not running")
    return service


def get_snapshot(request: Request) -> Snapshot:
    """The engine's latest snapshot: whole, immutable, read without waiting."""
    return get_service(request).snapshot


def require_read(request: Request) -> None:
    """Reads are open unless `api.read_token` is set; then they need it, or `api.token`
    (whoever may write may read: a write is a request under `/api/v1` too), as a bearer token,
    or the sign-in cookie. A browser asking for a page without either is sent to `/signin`."""
    api = get_service(request).config.api
    if api.read_token is None:
        return
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    if sessions is not None and sessions.valid(request.cookies.get(COOKIE)):
        return
    if _wants_page(request):
        raise HTTPException(303, "sign in first: /signin", headers={"Location": "/signin"})
    _check_token(request, "api.read_token", api.read_token, api.token)


def require_peer(request: Request) -> None:
    """Observations are always behind a token, loopback included: `api.read_token` (or
    `api.token`) as a bearer token; 403 when neither is configured (they are then off)."""
    api = get_service(request).config.api
    if api.read_token is None and api.token is None:
        raise HTTPException(403, "observations are off: no api.read_token is configured")
    _check_token(request, "api.read_token", api.read_token, api.token)


def require_write(request: Request) -> None:
    """Every write needs `api.token` as a bearer token, loopback included (never the sign-in
    cookie, which a browser would send along with a forged cross-site request): 401 without a
    token, 403 with a wrong one (or when no `api.token` is configured: writes are then off)."""
    _check_token(request, "api.token", get_service(request).config.api.token)


def accepted_token(api: ApiConfig, given: str) -> bool:
    """Whether `given` is `api.read_token` or `api.token`, compared in constant time."""
    expected = [t for t in (api.read_token, api.token) if t is not None]
    matches = [secrets.compare_digest(given.encode(), t.encode()) for t in expected]
    return any(matches)


def _wants_page(request: Request) -> bool:
    """A browser navigating to a page (not the API, not a script's fetch) with no token."""
    return (
        request.method == "GET"
        and not request.url.path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
        and "authorization" not in request.headers
    )


def _check_token(request: Request, key: str, *accepted: str | None) -> None:
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    expected = [t for t in accepted if t is not None]
    if not expected:
        raise HTTPException(403, f"writes are off: no {key} is configured")
    # Constant-time, and every token compared, so the answer's timing says nothing of how much
    # of a token matched, nor of which one.
    matches = [secrets.compare_digest(token.encode(), t.encode()) for t in expected]
    if not any(matches):
        raise HTTPException(403, "the bearer token is not accepted")
