"""`regionwatch deploy`: post a deploy marker to a running service (`POST /api/v1/deploys`)
and say in one line what became of it.

The token is the caller's (read from the environment by the command); it is sent as a bearer
token and never appears in what is printed, whatever the other side answers.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

__all__ = ["TIMEOUT", "DeployRefused", "post_deploy"]

TIMEOUT = 10.0  # seconds for the whole exchange: connecting, sending, the answer
_DETAIL_LIMIT = 300  # characters of the service's explanation kept


class DeployRefused(Exception):
    """The service refused the marker, or could not be reached: one line saying why."""


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
    `DeployRefused` when the service answers anything but 201, or cannot be reached within
    TIMEOUT."""
    body: dict[str, str] = {"region": region, "version": version}
    if note is not None:
        body["note"] = note
    if by is not None:
        body["by"] = by
    where = f"the service at {url}"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            answer = await client.post(
                f"{url}/api/v1/deploys",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.TimeoutException:
        raise DeployRefused(f"{where} did not answer within {TIMEOUT:g} s") from None
    except httpx.HTTPError as e:
        raise DeployRefused(_scrub(f"could not reach {where}: {_cause(e)}", token)) from None
    if answer.status_code != 201:
        detail = _scrub(_detail(answer), token)
        raise DeployRefused(f"{where} answered {answer.status_code}: {detail}")
    try:
        marker: Any = answer.json()
        line = f"deploy {marker['id']}: {marker['version']} to {marker['region']} at {marker['at']}"
    except (ValueError, KeyError, TypeError):
        raise DeployRefused(
            f"{where} answered 201 without a deploy marker: is it regionwatch?"
        ) from None
    return _scrub(_one_line(line), token)


def _detail(answer: httpx.Response) -> str:
    """The service's explanation (the API's `detail`), else the status's reason phrase."""
    try:
        detail = answer.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) and detail.strip() else answer.reason_phrase
    return _one_line(text) or "no explanation given"


def _cause(error: BaseException) -> str:
    """What the operating system said (`Connection refused`), rather than the client's
    wrapping of it (`All connection attempts failed`)."""
    seen: BaseException | None = error
    for _ in range(10):  # a chain is short; the bound only guards against a cycle
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno)  # asyncio's own text names the address again
        seen = seen.__cause__ or seen.__context__
    return _one_line(str(error)) or type(error).__name__


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _DETAIL_LIMIT else line[: _DETAIL_LIMIT - 1] + "…"


def _scrub(text: str, token: str) -> str:
    # A server that is not regionwatch may echo the request back; the token stays ours.
    return text.replace(token, "***")
