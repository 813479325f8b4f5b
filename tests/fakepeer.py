"""A peer whose observations document the test writes: a small ASGI server on loopback that
answers `GET /api/v1/observations` as a regionwatch observer would (behind its bearer token),
or with the status the test sets (503: it has gone away)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from servers import serving
from starlette.types import Receive, Scope, Send

__all__ = ["FakePeer", "fake_peer_serving"]


@dataclass
class FakePeer:
    """What the peer answers: `seen` maps each region to its status (`failing` ones are
    transport failures), every one `age_s` old; a decider also its `serve` decisions; `status`
    other than 200 answers that instead."""

    vantage: str
    token: str
    seen: dict[str, str] = field(default_factory=dict)
    age_s: float = 0.5
    role: str = "observer"
    serve: dict[str, bool] = field(default_factory=dict)
    status: int = 200
    pulls: int = 0

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "version": 1,
            "instance": f"{self.vantage}-instance",
            "vantage": self.vantage,
            "role": self.role,
            "observations": [
                {
                    "region": region,
                    "status": status,
                    "age_s": self.age_s,
                    "failure": "transport" if status == "failing" else None,
                    "reason": "home: connection refused" if status == "failing" else "",
                }
                for region, status in self.seen.items()
            ],
        }
        if self.role == "decider":
            document["decisions"] = {r: {"serve": s} for r, s in self.serve.items()}
        return document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.pulls += 1
        headers = dict(scope["headers"])
        if scope["path"] != "/api/v1/observations":
            status, body = 404, b'{"detail":"not found"}'
        elif headers.get(b"authorization") != f"Bearer {self.token}".encode():
            status, body = 401, b'{"detail":"a bearer token is required"}'
        elif self.status != 200:
            status, body = self.status, b'{"detail":"unavailable"}'
        else:
            status, body = 200, json.dumps(self.document()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def fake_peer_serving(peer: FakePeer) -> AsyncIterator[str]:
    """`peer` served on 127.0.0.1 (an ephemeral port); yields its base URL."""
    async with serving(peer, lifespan="off") as url:
        yield url
