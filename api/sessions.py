"""Sign-in sessions for the dashboard: an HMAC-signed, opaque cookie value.

A browser's EventSource cannot send an Authorization header, so a person who signed in with
`api.read_token` (or `api.token`) gets a cookie instead. Its value is an expiry time, a random
nonce and their HMAC-SHA256 under a key made at random when the app is made: it is never the
token, says nothing of it, and cannot be forged; a restart signs everybody out. A session
grants reads only (writes need the bearer `api.token`: a cookie would invite CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

__all__ = ["COOKIE", "LIFETIME", "Sessions"]

COOKIE = "regionwatch_session"
# A working day: long enough for a dashboard left open, short enough that a cookie copied
# from a shared machine stops working by the next morning.
LIFETIME = 12 * 3600.0


class Sessions:
    """Issues and checks session values. `clock` gives epoch seconds (tests pass their own)."""

    def __init__(
        self,
        key: bytes | None = None,
        *,
        lifetime: float = LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self.lifetime = lifetime
        self._clock = clock

    def issue(self) -> str:
        """A new session's cookie value."""
        payload = f"{int(self._clock() + self.lifetime)}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{self._sign(payload)}"

    def valid(self, value: str | None) -> bool:
        """Whether `value` is a session this process issued and that has not expired."""
        if not value:
            return False
        payload, _, signature = value.rpartition(".")
        # Constant-time: the answer's timing says nothing of how much of a signature matched.
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return False
        expires, _, _ = payload.partition(".")
        return expires.isdigit() and int(expires) > self._clock()

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
