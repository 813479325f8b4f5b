"""The ARM error the emulator answers with: an HTTP status and ARM's `{"error": {...}}` envelope."""

from __future__ import annotations

from typing import Any

__all__ = ["ArmError", "bad_request"]


class ArmError(Exception):
    """A request the emulated service refuses, as ARM would: `status` plus `code` and `message`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"({code}) {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def bad_request(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)
