"""Pulling a peer over the wire: one GET with the token, a timeout, a bounded body, and every
way it can go wrong told apart (unreachable, unauthenticated, malformed), never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alertreceiver import Answer, receiving
from verdicts import config_with

from monitor.clock import SystemClock
from monitor.config import Config
from monitor.observations import DOCUMENT_VERSION, MAX_DOCUMENT_BYTES, MalformedDocument, parse
from monitor.peers import PeerPuller
from monitor.probes.https import build_ssl_context
from monitor.quorum import PeerProblem
from monitor.results import FailureClass, RegionStatus

TOKEN = "peer-read-t0ken"


def config(url: str, *, timeout: str = "1s") -> Config:
    return config_with(
        vantage="vp1", peers=[{"name": "vp2", "url": url, "token": TOKEN, "timeout": timeout}]
    )


def good(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "version": DOCUMENT_VERSION,
        "instance": "monitor-vp2",
        "vantage": "vp2",
        "role": "observer",
        "observations": [
            {
                "region": "westeurope",
                "status": "failing",
                "age_s": 2.5,
                "failure": "transport",
                "reason": "home: connection refused",
            },
            {"region": "centralus", "status": "healthy", "age_s": 1, "failure": None},
        ],
    }
    return document | changes


async def pull_once(answer: Answer, *, timeout: str = "1s") -> tuple[Any, Any]:
    async with receiving() as receiver:
        receiver.script.append(answer)
        base = receiver.url.rsplit("/hooks/", 1)[0]
        puller = PeerPuller(config(base, timeout=timeout), build_ssl_context(), clock=SystemClock())
        try:
            [pull] = await puller.pull()
        finally:
            await puller.close()
        return pull, receiver.received


async def test_a_document_is_pulled_with_the_token_and_parsed() -> None:
    """GET /api/v1/observations with the bearer token; the document's observations come back
    typed."""
    pull, received = await pull_once(Answer(body=json.dumps(good()).encode()))
    assert pull.problem is None
    [request] = received
    assert request.path == "/api/v1/observations"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    west = pull.document.observations["westeurope"]
    assert (west.status, west.age, west.failure) == (
        RegionStatus.FAILING,
        2.5,
        FailureClass.TRANSPORT,
    )


@pytest.mark.parametrize(
    ("answer", "problem", "detail"),
    [
        (Answer(status=403), PeerProblem.UNAUTHENTICATED, "HTTP 403"),
        (Answer(status=401), PeerProblem.UNAUTHENTICATED, "HTTP 401"),
        (Answer(status=503), PeerProblem.UNREACHABLE, "HTTP 503"),
        (Answer(status=404), PeerProblem.MALFORMED, "HTTP 404"),
        (Answer(body=b"<html>sign in</html>"), PeerProblem.MALFORMED, "not an observations"),
        (
            Answer(body=json.dumps(good(vantage="vp3")).encode()),
            PeerProblem.MALFORMED,
            "it answers as vantage point 'vp3', configured as 'vp2'",
        ),
        (
            Answer(body=json.dumps(good(vantage="vp1")).encode()),
            PeerProblem.MALFORMED,
            "answers as vantage point 'vp1'",
        ),
        (
            Answer(body=b" " * (MAX_DOCUMENT_BYTES + 1)),
            PeerProblem.MALFORMED,
            "the observations document is larger than 1 MiB",
        ),
        (Answer(delay=3, body=b"{}"), PeerProblem.UNREACHABLE, "no answer within 0.5 s"),
    ],
    ids=[
        "forbidden",
        "no-token",
        "5xx",
        "not-found",
        "html",
        "another-vantage",
        "our-own-vantage",
        "too-large",
        "too-slow",
    ],
)
async def test_every_way_a_pull_fails_is_told_apart(
    answer: Answer, problem: PeerProblem, detail: str
) -> None:
    """Each failure is a problem of its own kind with a one-line detail, never an exception."""
    pull, _ = await pull_once(answer, timeout="500ms")
    assert pull.document is None
    assert pull.problem is problem
    assert detail in pull.detail
    assert TOKEN not in pull.detail


async def test_a_peer_that_refuses_connections_is_unreachable() -> None:
    """Nothing listening: unreachable, with the library's reason, no URL secrets."""
    puller = PeerPuller(config("https://127.0.0.1:9"), build_ssl_context(), clock=SystemClock())
    try:
        [pull] = await puller.pull()
    finally:
        await puller.close()
    assert pull.problem is PeerProblem.UNREACHABLE
    assert "ConnectError" in pull.detail


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "expected a JSON object"),
        (good(version=2), "expected document version 1, got 2"),
        (good(role="boss"), "role: expected decider or observer"),
        (good(instance=""), "instance: expected a name"),
        (good(observations={}), "observations: expected a list"),
        (
            good(observations=[{"region": "westeurope", "status": "down", "age_s": 1}]),
            "observations[0].status: expected one of",
        ),
        (
            good(observations=[{"region": "westeurope", "status": "healthy", "age_s": -1}]),
            "observations[0].age_s: expected a number of seconds ≥ 0",
        ),
        (
            good(observations=[{"region": "westeurope", "status": "healthy", "age_s": True}]),
            "observations[0].age_s",
        ),
        (
            good(observations=[{"region": "westeurope", "status": "failing", "age_s": 1}]),
            "observations[0].failure: expected one exactly when failing",
        ),
        (
            good(
                observations=[
                    {"region": "x", "status": "healthy", "age_s": 1, "failure": "content"}
                ]
            ),
            "observations[0].failure: expected one exactly when failing",
        ),
        (good(decisions={"westeurope": {"serve": "no"}}), "decisions.'westeurope'"),
    ],
)
def test_a_malformed_document_is_refused_saying_what_is_wrong(
    document: object, message: str
) -> None:
    """Every key checked; the message names it (one line)."""
    with pytest.raises(MalformedDocument) as raised:
        parse(document)
    assert message in str(raised.value)
