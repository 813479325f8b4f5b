"""Talking to a running service's API from the command line: one request, its answer as JSON,
or one line saying why not (`ServiceRefused`).

The token is the caller's (read from the environment by the command); it is sent as a bearer
token and never appears in what is printed, whatever the other side answers.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any

import httpx

__all__ = ["TIMEOUT", "ServiceRefused", "call", "one_line", "scrub"]

TIMEOUT = 10.0  # seconds for the whole exchange: connecting, sending, the answer
_DETAIL_LIMIT = 300  # characters of the service's explanation kept


class ServiceRefused(Exception):
    """The service refused the request, or could not be reached: one line saying why."""


async def call(
    method: str,
    url: str,
    path: str,
    *,
    token: str | None,
    expect: int | Collection[int],
    body: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
    seconds: float = TIMEOUT,
) -> Any:
    """`method` `path` on the service at `url` (its base URL, without a trailing slash), with
    `token` as a bearer token when given; returns the answer's JSON. Raises `ServiceRefused`
    when the service answers a status not in `expect`, answers no JSON, or cannot be reached
    within `seconds`."""
    where = f"the service at {url}"
    expected = (expect,) if isinstance(expect, int) else tuple(expect)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with httpx.AsyncClient(timeout=seconds) as client:
            answer = await client.request(
                method, f"{url}{path}", json=body, params=params, headers=headers
            )
    except httpx.TimeoutException:
        raise ServiceRefused(f"{where} did not answer within {seconds:g} s") from None
    except httpx.HTTPError as e:
        raise ServiceRefused(scrub(f"could not reach {where}: {_cause(e)}", token)) from None
    if answer.status_code not in expected:
        detail = scrub(_detail(answer), token)
        raise ServiceRefused(f"{where} answered {answer.status_code}: {detail}")
    try:
        return answer.json()
    except ValueError:
        raise ServiceRefused(
            f"{where} answered {answer.status_code} without JSON: is it regionwatch?"
        ) from None


def _detail(answer: httpx.Response) -> str:
    """The service's explanation (the API's `detail`), else the status's reason phrase."""
    try:
        detail = answer.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) and detail.strip() else answer.reason_phrase
    return one_line(text) or "no explanation given"


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
    return one_line(str(error)) or type(error).__name__


def one_line(text: str) -> str:
    """`text` on one line, cut to a readable length."""
    line = " ".join(text.split())
    return line if len(line) <= _DETAIL_LIMIT else line[: _DETAIL_LIMIT - 1] + "…"


def scrub(text: str, token: str | None) -> str:
    """`text` without the token: a server that is not regionwatch may echo the request back."""
    return text.replace(token, "***") if token else text
