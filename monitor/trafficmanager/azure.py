"""Traffic Manager through the official SDK: `azure-mgmt-trafficmanager` 2.x and `azure-identity`.

The synchronous client runs in worker threads (the async one needs aiohttp): daemon threads,
one per call, so a call that never answers cannot hold the process at exit. The SDK's own
retries are off: its RetryPolicy sleeps a `Retry-After` of any length (docs/traffic-manager.md,
"Errors, retries, timeouts"), so retries, backoff and the cap on `Retry-After` live in
`call_with_retries`.

Every call has a deadline, per attempt and in all (token acquisition included), kept twice:
in the worker thread by the transport (`answer_deadline`), so the thread stops reading, and
on the event loop, which stops waiting for a thread stuck where no socket timeout reaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import os
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from monitor.config import TrafficManagerConfig
from monitor.errors import TrafficManagerError
from monitor.redaction import redact_urls
from monitor.trafficmanager.geography import (
    GeographicHierarchy,
    NotAHierarchy,
    parse_hierarchy,
)
from monitor.trafficmanager.model import (
    EndpointState,
    EndpointStatus,
    NotAProfile,
    ProfileState,
    WriteAccess,
    cut,
    parse_endpoint,
    parse_profile,
)
from monitor.trafficmanager.transport import (
    AnswerTooLarge,
    answer_deadline,
    bounded_transport,
    deadline_passed,
)

__all__ = [
    "ATTEMPT_DEADLINE",
    "CALL_DEADLINE",
    "ERROR_LIMIT",
    "AzureTrafficManager",
    "RetryPolicy",
    "authentication_cause",
    "call_with_retries",
    "evaluate_permissions",
    "redact",
]

T = TypeVar("T")

# Authorities whose instance metadata MSAL may look up; for any other (an emulator, a private
# cloud proxy) instance discovery must be off or MSAL calls login.microsoftonline.com first.
_MICROSOFT_AUTHORITIES = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
)
_PERMISSIONS_API = "2022-04-01"
# The whole call, retries and their waits included, ends within 25 s: before the next read is
# due at the default 30 s interval (a read running into the next would make the scheduler skip
# it), and a DNS round that reads again, at the default 3 s timeout, stays within its default
# 30 s interval too. One attempt (a token first if one is needed, then the call) gets 15 s, so
# a retry after a stalled connection still has about 9 s on a fresh one; a healthy read, token
# included, takes a second or two.
ATTEMPT_DEADLINE = 15.0
CALL_DEADLINE = 25.0
# The longest error message that leaves this client: it goes into every log line, stored
# reading, API answer and dashboard, once per read.
ERROR_LIMIT = 400
# Closing the SDK client is local work; it must not hold a stop if it blocks.
_CLOSE_WAIT = 2.0
# ARM's codes for a token it will not take any more; a new token may well be accepted.
_STALE_TOKEN = frozenset({"ExpiredAuthenticationToken", "InvalidAuthenticationToken"})
_SECRETS = re.compile(
    r"(Bearer\s+)[A-Za-z0-9._~+/=-]+|"
    r"((?:client_secret|access_token|client_assertion|refresh_token)[\"']?\s*[=:]\s*[\"']?)[^&\s\"']+",
    re.IGNORECASE,
)


# A line of DefaultAzureCredential's message naming one credential it tried and why it failed.
_ATTEMPT = re.compile(r"^\s*(\w+Credential): (?:Authentication failed: )?(.+)$")


def redact(text: str, *, limit: int = 300) -> str:
    """The first line of an SDK message, without bearer tokens, secrets or URL credentials."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    cleaned = redact_urls(_SECRETS.sub(lambda m: (m.group(1) or m.group(2)) + "[redacted]", first))
    if len(cleaned) <= limit:
        return cleaned
    cut = cleaned[:limit]
    sentence = cut.rfind(". ")
    return cut[: sentence + 1] if sentence > limit // 2 else f"{cut[: limit - 1]}…"


def authentication_cause(text: str) -> str:
    """Why authentication failed, on one line, redacted. DefaultAzureCredential's first line
    says only that it failed; the cause is on the lines naming each credential it tried
    ("EnvironmentCredential: Authentication failed: AADSTS7000215: Invalid client secret
    ..."). The ones that failed are kept; those merely unavailable only when none failed."""
    attempts = [m.groups() for m in map(_ATTEMPT.match, text.splitlines()) if m is not None]
    failed = [(name, why) for name, why in attempts if "unavailable" not in why.lower()]
    shown = failed or attempts
    if not shown:
        return redact(text)
    return "; ".join(f"{name}: {redact(why)}" for name, why in shown)[:600]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 1.0  # exponential: 1s, 2s, 4s ... with jitter
    max_delay: float = 30.0
    retry_after_cap: float = 30.0  # ARM's Retry-After is honoured, up to this


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ends_at: float | None = None,
) -> T:
    """Run `call`; on a retryable TrafficManagerError wait and try again, up to `attempts`.
    A wait that would reach `ends_at` (the event loop's time) is not begun: the error stands."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return await call()
        except TrafficManagerError as e:
            if not e.retryable or attempt == policy.attempts:
                raise
            if e.retry_after is not None:
                delay = min(e.retry_after, policy.retry_after_cap)
            else:
                delay = min(policy.base_delay * 2 ** (attempt - 1), policy.max_delay)
                delay *= random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not security)
            if ends_at is not None and asyncio.get_running_loop().time() + delay >= ends_at:
                raise
            await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


class AzureTrafficManager:
    """One profile, read and written through the SDK. See `monitor.trafficmanager.TrafficManager`."""

    def __init__(
        self,
        config: TrafficManagerConfig,
        *,
        retry: RetryPolicy | None = None,
        connection_timeout: float = 10.0,
        read_timeout: float = 20.0,
        attempt_deadline: float = ATTEMPT_DEADLINE,
        call_deadline: float = CALL_DEADLINE,
    ) -> None:
        self._config = config
        self._retry = retry or RetryPolicy()
        self._timeouts = (connection_timeout, read_timeout)
        self._deadlines = (attempt_deadline, call_deadline)
        self._client: Any = None
        self._credential: Any = None
        # Two worker threads may build or drop the SDK client at once (a read and the access
        # check both start with the service).
        self._sdk_lock = threading.Lock()

    async def profile(self) -> ProfileState:
        return await self._call(self._get_profile)

    async def set_status(self, endpoint: EndpointState, status: EndpointStatus) -> EndpointState:
        # One attempt: the actuator owns the write's retries, so each attempt is journalled
        # and the guard rails are checked again on a fresh read between them.
        return await self._call(lambda: self._patch_status(endpoint, status), retry=False)

    async def write_access(self) -> WriteAccess:
        return await self._call(self._permissions)

    async def geographic_hierarchy(self) -> GeographicHierarchy:
        return await self._call(self._get_hierarchy)

    async def close(self) -> None:
        """Drop the SDK client and credential. A call still in flight is abandoned, not
        awaited: its thread ends with its own timeout, or with the process."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_in_thread(self._forget_sdk), _CLOSE_WAIT)

    async def _call(self, work: Callable[[], T], *, retry: bool = True) -> T:
        """`work` in a worker thread, retried (unless not `retry`), within the deadlines. A TrafficManagerError it
        ends with has a message of one line and at most ERROR_LIMIT characters."""
        loop = asyncio.get_running_loop()
        per_attempt, in_all = self._deadlines
        call_ends = loop.time() + in_all

        async def attempt() -> T:
            ends = min(loop.time() + per_attempt, call_ends)
            allowed = per_attempt if ends < call_ends else in_all
            # The thread's deadline on its own clock (the loop's may be another).
            thread_ends = time.monotonic() + (ends - loop.time())
            try:
                async with asyncio.timeout_at(ends):
                    return await _in_thread(lambda: _mapped(work, thread_ends, allowed))
            except TimeoutError:
                # The thread is abandoned: the transport ends it at the same deadline, or its
                # own timeouts do, unless it is stuck where neither reaches.
                raise _too_late(allowed) from None
            except TrafficManagerError as e:
                if e.code in _STALE_TOKEN:
                    # ARM refused a token the credential still thinks valid (clock skew, a
                    # revoked or rotated token): start over with a new credential.
                    await _in_thread(self._forget_sdk)
                raise

        try:
            if not retry:
                return await attempt()
            return await call_with_retries(attempt, self._retry, ends_at=call_ends)
        except TrafficManagerError as e:
            raise _limited(e) from None

    # Everything below runs in a worker thread.

    def _forget_sdk(self) -> None:
        with self._sdk_lock:
            client, credential = self._client, self._credential
            self._client = self._credential = None
        if client is not None:
            client.close()
        if credential is not None:
            credential.close()

    def _sdk(self) -> Any:
        with self._sdk_lock:
            return self._client or self._build_sdk()

    def _build_sdk(self) -> Any:
        if self._client is None:
            from azure.identity import DefaultAzureCredential
            from azure.mgmt.trafficmanager import TrafficManagerManagementClient

            config = self._config
            connection: dict[str, Any] = {
                "connection_timeout": self._timeouts[0],
                "read_timeout": self._timeouts[1],
            }
            if config.ca_file is not None:
                connection["connection_verify"] = str(config.ca_file)
            credential_options: dict[str, Any] = {
                "transport": bounded_transport(**connection),
                "retry_total": 0,  # call_with_retries owns retries
            }
            authority = config.authority_host
            if authority is not None:
                credential_options["authority"] = authority
            if not _is_microsoft_authority(authority or os.environ.get("AZURE_AUTHORITY_HOST")):
                credential_options["disable_instance_discovery"] = True
            self._credential = DefaultAzureCredential(**credential_options)
            self._client = TrafficManagerManagementClient(
                self._credential,
                config.subscription_id,
                base_url=config.resource_manager_url,
                transport=bounded_transport(**connection),
                retry_total=0,
            )
        return self._client

    def _get_profile(self) -> ProfileState:
        name = self._config.profile
        # The answer as it came (streamed, so the SDK does not decode it first): whatever it
        # is, it is judged here, never half-read into a model.
        response = self._sdk().profiles.get(
            self._config.resource_group,
            name,
            stream=True,
            cls=lambda pipeline_response, *_: pipeline_response.http_response,
        )
        try:
            body = response.read()
        finally:
            response.close()
        try:
            return parse_profile(_json(body, response.headers.get("content-type")), name=name)
        except NotAProfile as e:
            raise TrafficManagerError(
                f"Traffic Manager answered something that is not the profile {name}: {e}",
                retryable=False,
                status=response.status_code,
            ) from None

    def _get_hierarchy(self) -> GeographicHierarchy:
        response = self._sdk().geographic_hierarchies.get_default(
            stream=True, cls=lambda pipeline_response, *_: pipeline_response.http_response
        )
        try:
            body = response.read()
        finally:
            response.close()
        try:
            return parse_hierarchy(_json(body, response.headers.get("content-type")))
        except (NotAProfile, NotAHierarchy) as e:
            raise TrafficManagerError(
                f"Traffic Manager answered something that is not its geographic hierarchy: {e}",
                retryable=False,
                status=response.status_code,
            ) from None

    def _patch_status(self, endpoint: EndpointState, status: EndpointStatus) -> EndpointState:
        # The only write regionwatch makes: a PATCH of endpointStatus alone (never a PUT).
        updated = self._sdk().endpoints.update(
            self._config.resource_group,
            self._config.profile,
            endpoint.type_segment,
            endpoint.name,
            {"properties": {"endpointStatus": status}},
        )
        try:
            return parse_endpoint(updated.as_dict())
        except (NotAProfile, AttributeError) as e:
            raise TrafficManagerError(
                "Traffic Manager answered something that is not the endpoint "
                f"{cut(endpoint.name)}: {e}",
                retryable=False,
            ) from None

    def _permissions(self) -> WriteAccess:
        from azure.core.rest import HttpRequest

        config = self._config
        url = (
            f"{config.resource_manager_url.rstrip('/')}/subscriptions/{quote(config.subscription_id)}"
            f"/resourceGroups/{quote(config.resource_group)}/providers/Microsoft.Network"
            f"/trafficmanagerprofiles/{quote(config.profile)}"
            f"/providers/Microsoft.Authorization/permissions?api-version={_PERMISSIONS_API}"
        )
        response = self._sdk().send_request(HttpRequest("GET", url))
        response.raise_for_status()
        # The PATCH goes to each endpoint's own type: every type in use must be writable.
        types = {e.type_segment for e in self._get_profile().endpoints} or {"ExternalEndpoints"}
        return evaluate_permissions(response.json().get("value") or [], types)


def evaluate_permissions(grants: list[dict[str, Any]], endpoint_types: set[str]) -> WriteAccess:
    """Whether the permissions listing allows PATCHing endpoints of every given type."""
    actions = tuple(a for g in grants for a in g.get("actions") or ())
    needed = [
        f"Microsoft.Network/trafficManagerProfiles/{t[:1].lower()}{t[1:]}/write"
        for t in sorted(endpoint_types)
    ]
    missing = [action for action in needed if not _granted(action, grants)]
    if missing:
        return WriteAccess(False, f"missing permission {', '.join(missing)}", actions)
    return WriteAccess(True, f"allowed: {', '.join(needed)}", actions)


def _granted(action: str, grants: list[dict[str, Any]]) -> bool:
    for grant in grants:
        allowed = any(_matches(action, a) for a in grant.get("actions") or ())
        excluded = any(_matches(action, a) for a in grant.get("notActions") or ())
        if allowed and not excluded:
            return True
    return False


def _matches(action: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _is_microsoft_authority(authority: str | None) -> bool:
    if authority is None:
        return True  # azure-identity's default: login.microsoftonline.com
    host = urlsplit(authority if "://" in authority else f"https://{authority}").hostname or ""
    return host.lower() in _MICROSOFT_AUTHORITIES


async def _in_thread(work: Callable[[], T]) -> T:
    """Run blocking `work` on a daemon thread of its own. Cancelling the await abandons the
    work: unlike an executor's threads, the thread is not joined at interpreter exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the caller was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = work()
        except BaseException as e:
            error = e
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="regionwatch-azure", daemon=True).start()
    return await future


def _too_late(allowed: float) -> TrafficManagerError:
    # Retryable: the next attempt, or the next scheduled read, may well be answered in time.
    return TrafficManagerError(
        f"Traffic Manager did not answer within {allowed:g} s", retryable=True
    )


def _limited(error: TrafficManagerError) -> TrafficManagerError:
    """`error` with its message on one line, cut to ERROR_LIMIT characters."""
    message = " ".join(str(error).splitlines())
    if message == str(error) and len(message) <= ERROR_LIMIT:
        return error
    return TrafficManagerError(
        message if len(message) <= ERROR_LIMIT else f"{message[: ERROR_LIMIT - 1]}…",
        retryable=error.retryable,
        status=error.status,
        code=error.code,
        retry_after=error.retry_after,
    )


def _mapped(work: Callable[[], T], ends: float, allowed: float) -> T:
    """Run `work` within the deadline `ends` (time.monotonic()), `allowed` seconds after its
    start, turning every SDK error into a TrafficManagerError: any failure once the deadline
    has passed is the deadline's (a timeout cut short by it, a body that stopped at it, or
    either wrapped by azure-identity as an authentication failure)."""
    try:
        with answer_deadline(ends):
            try:
                return _sdk_errors_mapped(work)
            except Exception:
                if deadline_passed():
                    raise _too_late(allowed) from None
                raise
    except RecursionError:
        # JSON nested deeper than the parser's recursion limit (ours or the SDK's).
        raise TrafficManagerError(
            "not a Traffic Manager answer: JSON nested too deep", retryable=False
        ) from None


def _sdk_errors_mapped(work: Callable[[], T]) -> T:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        return work()
    except AnswerTooLarge as e:
        raise TrafficManagerError(f"not a Traffic Manager answer: {e}", retryable=False) from None
    except ClientAuthenticationError as e:
        code = getattr(e.error, "code", None) if e.error is not None else None
        raise TrafficManagerError(
            f"authentication failed: {authentication_cause(str(e.message or e))}",
            retryable=code in _STALE_TOKEN,
            status=e.status_code,
            code=code,
        ) from None
    except HttpResponseError as e:
        status = e.status_code
        code = getattr(e.error, "code", None) if e.error is not None else None
        headers: Any = getattr(e.response, "headers", None) or {}
        raise TrafficManagerError(
            f"Azure answered {status}{f' {cut(code)}' if code else ''}: "
            f"{redact(str(e.message or e))}",
            retryable=status in (408, 429, 500, 502, 503, 504),
            status=status,
            code=code,
            retry_after=_retry_after(headers.get("Retry-After")),
        ) from None
    except (ServiceRequestError, ServiceResponseError) as e:
        raise TrafficManagerError(
            f"cannot reach Azure: {redact(str(e.message or e))}", retryable=True
        ) from None


def _json(body: bytes, content_type: str | None) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        kind = cut((content_type or "no content type").split(";")[0].strip())
        raise NotAProfile(f"not JSON ({kind}, {len(body)} bytes)") from None
    except RecursionError:
        raise NotAProfile("JSON nested too deep") from None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
