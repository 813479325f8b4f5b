"""Signing in to the dashboard when `api.read_token` is set: `GET /signin` (a form),
`POST /signin` (the form's `token`; a session cookie when it is accepted), `POST /signout`.

The token travels only in the body of a POST, never in a URL; it is compared in constant
time and never logged, stored or echoed. The cookie (`api.sessions`) is HttpOnly,
SameSite=Strict, Path=/, and Secure when the request came over https.
"""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import accepted_token, get_service
from api.sessions import COOKIE, Sessions
from monitor.service import Service

__all__ = ["router"]

log = structlog.get_logger("api.signin")

router = APIRouter(include_in_schema=False)

# A token is a line of text; a body much larger than one is not a sign-in.
_MAX_BODY = 4096
_NO_STORE = {"Cache-Control": "no-store"}
_PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<meta name=referrer content=no-referrer><meta name=color-scheme content="light dark">
<title>Sign in · regionwatch · {hostname}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}}
label,input,button{{display:block;width:100%;box-sizing:border-box;font:inherit}}
input{{margin:.3rem 0 1rem;padding:.5rem}}button{{padding:.5rem}}
.error{{color:#cf222e}}@media (prefers-color-scheme:dark){{.error{{color:#ff8182}}}}</style>
</head><body><main><h1>regionwatch · {hostname}</h1>{message}
<form method=post action=/signin>
<label for=token>Read token (<code>api.read_token</code> or <code>api.token</code>)</label>
<input id=token name=token type=password autocomplete=current-password required autofocus>
<button type=submit>Sign in</button></form></main></body></html>"""


def _page(service: Service, message: str = "") -> str:
    shown = f"<p class=error role=alert id=problem>{escape(message)}</p>" if message else ""
    return _PAGE.format(hostname=escape(service.config.site.hostname), message=shown)


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(service: Annotated[Service, Depends(get_service)]) -> Response:
    if service.config.api.read_token is None:
        return RedirectResponse("/", 303)  # reads are open: nothing to sign in to
    return HTMLResponse(_page(service), headers=_NO_STORE)


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request, service: Annotated[Service, Depends(get_service)]) -> Response:
    body = await _small_body(request)
    given = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0] if body else ""
    client = request.client.host if request.client is not None else None
    if not given or not accepted_token(service.config.api, given):
        log.warning("sign_in_refused", client=client)
        return HTMLResponse(
            _page(service, "That token is not accepted."), status_code=401, headers=_NO_STORE
        )
    sessions: Sessions = request.app.state.sessions
    response = RedirectResponse("/", 303, headers=_NO_STORE)
    response.set_cookie(
        COOKIE,
        sessions.issue(),
        max_age=int(sessions.lifetime),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    log.info("signed_in", client=client)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    response = RedirectResponse("/signin", 303, headers=_NO_STORE)
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


async def _small_body(request: Request) -> bytes:
    """The request body, or nothing when it is larger than a sign-in form's."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            return b""
    return body
