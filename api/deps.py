"""What routes depend on: the service and its snapshot, and the token checks."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request

from monitor.service import Service
from monitor.snapshot import Snapshot

__all__ = ["get_service", "get_snapshot", "require_read", "require_write"]


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
    (whoever may write may read: a write is a request under `/api/v1` too)."""
    api = get_service(request).config.api
    if api.read_token is None:
        return
    _check_token(request, "api.read_token", api.read_token, api.token)


def require_write(request: Request) -> None:
    """Every write needs `api.token`, loopback included: 401 without a token, 403 with a
    wrong one (or when no `api.token` is configured: writes are then off)."""
    _check_token(request, "api.token", get_service(request).config.api.token)


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
