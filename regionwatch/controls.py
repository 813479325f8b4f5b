"""`regionwatch region pin|unpin`, `regionwatch silence`, `regionwatch pause` and `regionwatch
resume`: operator controls posted to a running service's API, each answered with the stored
record on one line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regionwatch.client import ServiceRefused, call, one_line, scrub

__all__ = [
    "end_silence",
    "list_silences",
    "pause",
    "pin",
    "resume",
    "silence",
    "unpin",
]


async def pin(url: str, token: str, region: str, *, reason: str, lasting: str, by: str) -> str:
    body = {"reason": reason, "for": lasting, "by": by}
    path = f"/api/v1/regions/{_segment(region)}/pin"
    return await _one(url, token, "POST", path, 201, body=body)


async def unpin(url: str, token: str, region: str, *, reason: str, by: str) -> str:
    path = f"/api/v1/regions/{_segment(region)}/unpin"
    return await _one(url, token, "POST", path, 200, body={"reason": reason, "by": by})


async def silence(url: str, token: str, region: str, *, reason: str, lasting: str, by: str) -> str:
    body = {"region": region, "reason": reason, "for": lasting, "by": by}
    return await _one(url, token, "POST", "/api/v1/silences", 201, body=body)


async def end_silence(url: str, token: str, id: str, *, reason: str | None, by: str) -> str:
    params = {"by": by, **({"reason": reason} if reason else {})}
    path = f"/api/v1/silences/{_segment(id)}"
    return await _one(url, token, "DELETE", path, 200, params=params)


async def list_silences(url: str, token: str | None) -> str:
    """The silences in force, one a line; a line saying there are none otherwise."""
    answer = await call("GET", url, "/api/v1/silences", token=token, expect=200)
    try:
        lines = [_describe(c) for c in answer["controls"]]
    except (KeyError, TypeError):
        raise ServiceRefused(f"the service at {url} answered without silences") from None
    return scrub("\n".join(lines) if lines else "no silence in force", token)


async def pause(url: str, token: str, *, reason: str, lasting: str | None, by: str) -> str:
    body = {"reason": reason, "by": by, **({"for": lasting} if lasting else {})}
    return await _one(url, token, "POST", "/api/v1/pause", 201, body=body)


async def resume(url: str, token: str, *, reason: str | None, by: str) -> str:
    params = {"by": by, **({"reason": reason} if reason else {})}
    return await _one(url, token, "DELETE", "/api/v1/pause", 200, params=params)


async def _one(
    url: str,
    token: str,
    method: str,
    path: str,
    expect: int,
    *,
    body: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> str:
    record = await call(method, url, path, token=token, expect=expect, body=body, params=params)
    try:
        return scrub(_describe(record), token)
    except (KeyError, TypeError):
        raise ServiceRefused(
            f"the service at {url} answered {expect} without the record: is it regionwatch?"
        ) from None


def _describe(record: Mapping[str, Any]) -> str:
    """`pin ID: westeurope by alice until 2026-11-02T16:00:00Z: reason`, and how it ended."""
    what = record["kind"] + (f" {record['id']}: {record['region']}" if record["region"] else "")
    if not record["region"]:
        what += f" {record['id']}:"
    until = f"until {record['until']}" if record["until"] else "until ended"
    line = f"{what} by {record['by']} since {record['since']} {until}: {record['reason']}"
    if record["ended_at"]:
        line += f"; ended at {record['ended_at']} by {record['ended_by']}: {record['end_reason']}"
    return one_line(line)


def _segment(text: str) -> str:
    """A path segment that stays one: no slash or dot-dot can reach another route."""
    from urllib.parse import quote

    return quote(text, safe="")
