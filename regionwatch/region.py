"""`regionwatch region disable|enable NAME` and `regionwatch adopt NAME...`: a person's
commands, posted to a running service (`POST /api/v1/regions/{name}/disable|enable|adopt`),
and what became of each said in one line.

The service answers with the command's audit record once it is finished (200), or its id while
it is still being carried out (202). The token is the caller's (read from the environment by
the command); it is sent as a bearer token and never appears in what is printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from regionwatch.client import ServiceRefused, call, one_line

__all__ = ["TIMEOUT", "CommandOutcome", "post_command"]

# The service waits up to 10 s for a command's outcome before it answers 202; this leaves it
# room to answer.
TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What became of a command: `ok` when it is done (or recorded as dry-run), and one line
    saying so."""

    ok: bool
    line: str


async def post_command(
    url: str,
    token: str,
    *,
    action: str,
    region: str,
    reason: str,
    by: str,
    force: bool = False,
) -> CommandOutcome:
    """Post `action` (disable, enable or adopt) of `region`; the outcome in one line. Raises
    `ServiceRefused` when the service refused the request itself (401, 403, 404, 422) or
    could not be reached."""
    body: dict[str, Any] = {"reason": reason, "by": by}
    if force:
        body["force"] = True
    path = f"/api/v1/regions/{quote(region, safe='')}/{action}"
    answer = await call(
        "POST", url, path, token=token, body=body, expect=(200, 202), seconds=TIMEOUT
    )
    try:
        if answer.get("result") == "intended":
            return CommandOutcome(
                False,
                f"{action} of {answer['region']} is still being carried out: its record is "
                f"GET {url}/api/v1/actions/{answer['id']}",
            )
        return _outcome(answer)
    except (KeyError, TypeError):
        raise ServiceRefused(
            f"the service at {url} answered without an action record: is it regionwatch?"
        ) from None


def _outcome(record: dict[str, Any]) -> CommandOutcome:
    result = record["result"]
    what = f"{record['action']} of {record['region']}"
    forced = " (forced)" if record.get("forced") else ""
    tail = f"{record['detail']} (action {record['id']})"
    if result == "done":
        return CommandOutcome(True, one_line(f"{what} done by {record['by']}{forced}: {tail}"))
    if result == "dry_run":
        return CommandOutcome(
            True,
            one_line(f"{what} recorded as dry-run by {record['by']}, nothing written: {tail}"),
        )
    if result == "refused":
        return CommandOutcome(False, one_line(f"{what} refused by {record['guard']}: {tail}"))
    return CommandOutcome(False, one_line(f"{what} {result}: {tail}"))
