"""`regionwatch deploy`: post a deploy marker to a running service (`POST /api/v1/deploys`)
and say in one line what became of it."""

from __future__ import annotations

from regionwatch.client import ServiceRefused, call, one_line, scrub

__all__ = ["post_deploy"]


async def post_deploy(
    url: str,
    token: str,
    *,
    region: str,
    version: str,
    note: str | None = None,
    by: str | None = None,
) -> str:
    """Post the marker to the service at `url` (its base URL, without a trailing slash);
    returns the stored marker in one line: its id, region, version and time. Raises
    `ServiceRefused` when the service answers anything but 201, or cannot be reached."""
    body: dict[str, str] = {"region": region, "version": version}
    if note is not None:
        body["note"] = note
    if by is not None:
        body["by"] = by
    marker = await call("POST", url, "/api/v1/deploys", token=token, expect=201, body=body)
    try:
        line = f"deploy {marker['id']}: {marker['version']} to {marker['region']} at {marker['at']}"
    except (KeyError, TypeError):
        raise ServiceRefused(
            f"the service at {url} answered 201 without a deploy marker: is it regionwatch?"
        ) from None
    return scrub(one_line(line), token)
