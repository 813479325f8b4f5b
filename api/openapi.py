"""The OpenAPI document as the API answers: every error in the one shape of `ErrorOut`.

FastAPI documents a 422 as its own `HTTPValidationError` (a list of problems), while
`api.errors` answers every error, a 422 included, as `{"status", "error", "detail"}`; it leaves
out the 400 of a body that is not JSON; and it cannot know which routes the token checks guard, nor that every route but `/livez` answers 503
while the service starts. This completes the generated document once, when first asked.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.models import ErrorOut

__all__ = ["complete_openapi"]

_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")
_METHODS = ("get", "post", "put", "patch", "delete")
_GUARDED = ("/api/v1/", "/metrics")
_AUTH = {
    "401": "No bearer token (reads need one only when `api.read_token` is set)",
    "403": "The bearer token is not accepted (or writes are off: no `api.token`)",
}
_STARTING = "The service is not running (starting or stopping), or its store failed"
# Answered without the service: never a 503 of ours.
_ALWAYS_UP = frozenset({"/livez", "/healthz"})


def complete_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the completed document (see the module)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _completed(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _completed(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorOut", ErrorOut.model_json_schema())
    for path, operations in document.get("paths", {}).items():
        for method in _METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", _error("The body could not be read as JSON"))
            if "422" in responses:
                responses["422"]["content"] = {"application/json": {"schema": _ERROR_REF}}
            if path.startswith(_GUARDED):
                for status, description in _AUTH.items():
                    responses.setdefault(status, _error(description))
            if path not in _ALWAYS_UP:
                responses.setdefault("503", _error(_STARTING))
    for name in _FASTAPI_ERRORS:
        schemas.pop(name, None)
    return document


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}
