"""One JSON shape for every error the API answers: `{"status", "error", "detail"}`."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from monitor.errors import StoreError

__all__ = ["add_error_handlers", "error_response"]

_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    422: "invalid_request",
    503: "unavailable",
}


def error_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error = code or _CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    return JSONResponse(
        {"status": status, "error": error, "detail": detail},
        status_code=status,
        headers=dict(headers) if headers is not None else None,
    )


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
        ]
        return error_response(422, "; ".join(problems))

    @app.exception_handler(StoreError)
    async def store_unavailable(_: Request, error: StoreError) -> JSONResponse:
        # The history is unreadable, not the request wrong: 503 with the store's one-line
        # cause, never a traceback or a query.
        return error_response(503, str(error), code="store_unavailable")
