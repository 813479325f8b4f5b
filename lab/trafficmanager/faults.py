"""Scripted faults for the emulator's HTTPS side, and the log of what clients sent.

`FaultQueue.add(...)` makes the next `count` requests that match answer with a given status
(429 with or without Retry-After, 5xx, 401, 403, 404, ...) and body (ARM's error envelope, any
JSON, raw bytes or text with the content type given in `headers`, or a `StreamedBody` that goes
on for `size` bytes or without end, at once or dripping in with a pause before each piece), or
only wait `delay` seconds before their normal answer ("slow"; "hang" with a delay longer than
anyone waits). With `lands`, the request is carried out first and only its answer is faulted: a
write that landed whose answer was lost (a 5xx, or no answer before the client's deadline).
Rules are tried in the order they were added.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.faults import Fault, Schedule
from lab.httpserver import HttpRequest, Misbehaviour

__all__ = ["DEFAULT_ERRORS", "FaultQueue", "FaultRule", "LoggedRequest", "RequestLog"]

# The ARM error code for each status a fault answers with when no body is given.
DEFAULT_ERRORS: Mapping[int, tuple[str, str]] = {
    400: ("BadRequest", "The request is invalid."),
    401: ("InvalidAuthenticationToken", "The access token is invalid."),
    403: ("AuthorizationFailed", "The client does not have authorization to perform action."),
    404: ("NotFound", "The requested resource was not found."),
    408: ("RequestTimeout", "The request timed out."),
    409: ("Conflict", "The request conflicts with the current state of the resource."),
    429: ("TooManyRequests", "The request is being throttled."),
    500: ("InternalServerError", "Encountered internal server error."),
    502: ("BadGateway", "The gateway did not receive a response."),
    503: ("ServiceUnavailable", "The service is unavailable."),
    504: ("GatewayTimeout", "The gateway did not receive a response in time."),
}


@dataclass(slots=True)
class FaultRule:
    """One scripted fault. `status` None with a `delay` is "slow": the normal answer, late.
    `applied`: the request is carried out before the delay, and only its answer is faulted."""

    method: str | None
    path_contains: str | None
    status: int | None
    headers: dict[str, str]
    body: object  # None: ARM's envelope for the status; bytes/str: raw; StreamedBody; else JSON
    schedule: Schedule  # which matching requests it hits; `count` None: until cleared
    delay: float
    lands: bool = False  # carried out first: only the answer is faulted (late, or replaced)
    misbehave: Misbehaviour | None = None  # instead of an answer: a reset, or bytes not HTTP
    fault: Fault | None = None  # the fault it was injected as (None: scripted with `add`)

    @property
    def hits(self) -> int:
        return self.schedule.hits

    @property
    def remaining(self) -> int | None:
        return self.schedule.remaining

    def matches(self, request: HttpRequest, decoded_path: str) -> bool:
        if self.method is not None and request.method.upper() != self.method.upper():
            return False
        if self.path_contains is None:
            return True
        needle = self.path_contains.lower()
        return needle in request.path.lower() or needle in decoded_path.lower()

    def error_body(self) -> dict[str, Any]:
        code, message = DEFAULT_ERRORS.get(self.status or 500, ("Error", "Injected fault."))
        return {"error": {"code": code, "message": message}}


class FaultQueue:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []

    def add(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        status: int | None = 429,
        headers: Mapping[str, str] | None = None,
        body: object = None,
        count: int | None = 1,
        delay: float = 0.0,
        lands: bool = False,
        *,
        every: int = 1,
        misbehave: Misbehaviour | None = None,
        fault: Fault | None = None,
    ) -> FaultRule:
        """Answer the next `count` matching requests (every one, if None) with `status`,
        `headers` and `body`, after `delay` seconds; `status=None` only delays them. With
        `lands` each is carried out before the delay, and its answer replaced by the fault's
        (or, with `status=None`, sent late). With `every=N` only every Nth matching request is
        hit (and counted against `count`)."""
        if status is None and delay <= 0 and misbehave is None:
            raise ValueError("a fault needs a status, a delay, or both")
        if count is not None and count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        rule = FaultRule(
            method=method,
            path_contains=path_contains,
            status=status,
            headers=dict(headers or {}),
            body=body,
            schedule=Schedule(every, count),
            delay=delay,
            lands=lands,
            misbehave=misbehave,
            fault=fault,
        )
        self._rules.append(rule)
        return rule

    def clear(self, fault: Fault | None = None) -> None:
        """Drop every rule, or those injected as `fault`."""
        self._rules = [r for r in self._rules if fault is not None and r.fault is not fault]

    def pending(self) -> list[FaultRule]:
        return list(self._rules)

    def take(self, request: HttpRequest, decoded_path: str) -> FaultRule | None:
        """The first rule matching `request` that is due to hit it, used up by one."""
        for rule in self._rules:
            if rule.matches(request, decoded_path) and rule.schedule.due():
                if rule.schedule.spent:
                    self._rules.remove(rule)
                return rule
        return None


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str  # percent-decoded, without the query
    query: Mapping[str, str]
    status: int
    body: Any  # parsed JSON, the form as a dict for token requests, else the raw bytes
    client_id: str | None = None  # the caller, when it presented a token ARM accepted
    faulted: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


class RequestLog:
    """Every request the HTTPS side answered, in order."""

    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def where(
        self, method: str | None = None, path_contains: str | None = None
    ) -> list[LoggedRequest]:
        """The entries with this method (any case) whose path contains this text (any case)."""
        return [
            e
            for e in self._entries
            if (method is None or e.method.upper() == method.upper())
            and (path_contains is None or path_contains.lower() in e.path.lower())
        ]

    def token_requests(self) -> list[LoggedRequest]:
        return self.where("POST", "/oauth2/v2.0/token")
