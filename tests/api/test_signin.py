"""Reads behind `api.read_token` on the real app: bearer tokens, the dashboard's sign-in and
its session cookie (reads and the live stream, never writes), and no token in any log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
import structlog
from servers import serving_service

from api.sessions import COOKIE, Sessions
from lab.origin import RegionalOrigin
from monitor.config import load_config

ConfigWriter = Callable[..., Path]
READ = "r-token-0123456789"
WRITE = "w-token-9876543210"
# The test's own HTTP client logs what it sends and receives; the service's logs are the point.
_CLIENT_LOGGERS = ("httpx", "httpcore")
PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
async def client(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with both tokens set, no schedule; it follows no redirect."""
    api = {"listen": "127.0.0.1:0", "token": WRITE, "read_token": READ}
    config = load_config(write_config(two_regions, api=api))
    async with (
        serving_service(config, schedule=False) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield client


async def signed_in(client: httpx.AsyncClient, token: str = READ) -> httpx.Response:
    return await client.post("/signin", data={"token": token})


def cookie_of(response: httpx.Response) -> SimpleCookie:
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


@pytest.mark.parametrize(
    "path", ["/api/v1/regions", "/api/v1/events", "/api/v1/stream", "/api/v1/pause"]
)
async def test_reads_need_a_token_401_without_403_wrong(
    client: httpx.AsyncClient, path: str
) -> None:
    """With api.read_token set, a read without a token is 401 (saying Bearer), with a wrong one
    403; the read token and the write token are both accepted."""
    missing = await client.get(path)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await client.get(path, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    for token in (READ, WRITE):
        if path != "/api/v1/stream":  # the stream never ends: its opening is tested below
            ok = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200, ok.text


async def test_signing_in_sets_an_httponly_strict_cookie_that_is_not_the_token(
    client: httpx.AsyncClient,
) -> None:
    """A right token posted to /signin is answered 303 to / with the session cookie:
    HttpOnly, SameSite=Strict, Path=/, not Secure over plain http, and not the token."""
    answer = await signed_in(client)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    morsel = cookie_of(answer)[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/"
    assert not morsel["secure"]
    assert READ not in morsel.value and WRITE not in morsel.value
    assert int(morsel["max-age"]) > 0


async def test_the_cookie_is_secure_when_the_request_came_over_https(
    client: httpx.AsyncClient,
) -> None:
    """Behind a TLS-terminating proxy on loopback (X-Forwarded-Proto: https) the cookie is
    marked Secure."""
    answer = await client.post(
        "/signin", data={"token": READ}, headers={"X-Forwarded-Proto": "https"}
    )
    assert answer.status_code == 303
    assert cookie_of(answer)[COOKIE]["secure"] is True


async def test_the_cookie_works_for_reads_and_the_stream(client: httpx.AsyncClient) -> None:
    """After signing in, reads, the dashboard and the live stream answer without a bearer
    token."""
    assert (await signed_in(client)).status_code == 303
    assert (await client.get("/api/v1/regions")).status_code == 200
    assert (await client.get("/", headers=PAGE)).status_code == 200
    async with client.stream("GET", "/api/v1/stream") as stream:
        assert stream.status_code == 200
        async for line in stream.aiter_lines():
            assert line == "event: snapshot"
            break


async def test_the_cookie_does_not_work_for_writes(client: httpx.AsyncClient) -> None:
    """A write with only the session cookie (even one signed in with api.token) is 401: writes
    need the bearer api.token, so a forged cross-site request cannot write."""
    assert (await signed_in(client, WRITE)).status_code == 303
    marker = {"region": "westeurope", "version": "2.0.0"}
    refused = await client.post("/api/v1/deploys", json=marker)
    assert refused.status_code == 401
    paused = await client.post("/api/v1/pause", json={"reason": "test", "by": "me"})
    assert paused.status_code == 401
    bearer = {"Authorization": f"Bearer {WRITE}"}
    assert (await client.post("/api/v1/deploys", json=marker, headers=bearer)).status_code == 201


@pytest.mark.parametrize("form", [{"token": "nope"}, {"token": ""}, {}, {"token": READ + "x"}])
async def test_a_wrong_token_on_sign_in_is_refused_without_a_cookie(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    """A wrong, empty or missing token: 401, the form again saying so, no cookie set, and reads
    still refused."""
    answer = await client.post("/signin", data=form)
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert "not accepted" in answer.text
    assert (await client.get("/api/v1/regions")).status_code == 401


async def test_a_forged_or_foreign_cookie_is_refused(client: httpx.AsyncClient) -> None:
    """A cookie whose signature does not match (made up, altered, or signed by another
    process's key) grants nothing."""
    value = cookie_of(await signed_in(client))[COOKIE].value
    expires, nonce, signature = value.split(".")
    client.cookies.clear()
    forged = [
        "anything",
        f"{int(expires) + 10**6}.{nonce}.{signature}",
        f"{expires}.{nonce}.{signature[:-2]}AA",
        Sessions().issue(),
    ]
    for cookie in forged:
        client.cookies.set(COOKIE, cookie)
        assert (await client.get("/api/v1/regions")).status_code == 401, cookie


def test_a_session_expires_after_its_lifetime() -> None:
    """A session is valid until its lifetime is over, not after."""
    now = [1_800_000_000.0]
    sessions = Sessions(lifetime=3600, clock=lambda: now[0])
    value = sessions.issue()
    now[0] += 3599
    assert sessions.valid(value)
    now[0] += 2
    assert not sessions.valid(value)


async def test_a_browser_at_the_dashboard_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    """A browser asking for / without a token or session is redirected to /signin (a form that
    posts, so the token never lands in a URL); an API client still gets 401."""
    page = await client.get("/", headers=PAGE)
    assert page.status_code == 303
    assert page.headers["location"] == "/signin"
    assert (await client.get("/")).status_code == 401
    assert (await client.get("/api/v1/regions", headers=PAGE)).status_code == 401
    form = await client.get("/signin")
    assert form.status_code == 200
    assert form.headers["cache-control"] == "no-store"
    assert "<form method=post action=/signin>" in form.text
    assert "<label for=token>" in form.text


async def test_signing_out_clears_the_cookie(client: httpx.AsyncClient) -> None:
    """POST /signout expires the cookie and sends the browser back to the form."""
    await signed_in(client)
    answer = await client.post("/signout")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin"
    assert cookie_of(answer)[COOKIE]["max-age"] == "0"
    assert (await client.get("/api/v1/regions")).status_code == 401


async def test_no_token_or_session_reaches_the_logs(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Signing in (right and wrong), reading with a bearer token and with the cookie, and a
    refused write log neither token nor the session's value, at any level."""
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        await client.post("/signin", data={"token": READ + "-wrong"})
        session = cookie_of(await signed_in(client))[COOKIE].value
        await client.get("/api/v1/regions")
        await client.get("/api/v1/regions", headers={"Authorization": f"Bearer {WRITE}"})
        await client.post("/api/v1/deploys", json={"region": "westeurope", "version": "1"})
    assert [e["event"] for e in events if e["event"].startswith("sign")] == [
        "sign_in_refused",
        "signed_in",
    ]
    logged = "\n".join(
        [str(e) for e in events]
        + [
            f"{r.getMessage()} {r.__dict__}"
            for r in caplog.records
            if not r.name.startswith(_CLIENT_LOGGERS)
        ]
    )
    for secret in (READ, WRITE, session):
        assert secret not in logged
