"""Pulling the peers' observations: one GET per peer per round, all at once, each with its
timeout and a bounded body; what came back, or why nothing usable did, is handed to the
engine as evidence (`PeersPulled`), which alone decides what it means.

A pull makes one attempt: the next round is the retry, and a peer that keeps failing is
absent (monitor/quorum.py), never a vote.
"""

from __future__ import annotations

import asyncio
import json
import ssl

import httpx
import structlog

from monitor.bodies import BodyTooLarge, read_bounded
from monitor.clock import Clock
from monitor.config import Config, PeerConfig
from monitor.observations import MAX_DOCUMENT_BYTES, MalformedDocument, parse
from monitor.quorum import PeerProblem, PeerPull
from monitor.redaction import redact_url, redact_urls

__all__ = ["OBSERVATIONS_PATH", "PeerPuller"]

log = structlog.get_logger("monitor.peers")

OBSERVATIONS_PATH = "/api/v1/observations"


class PeerPuller:
    """Pulls every configured peer (see the module docstring). `close` when done."""

    def __init__(self, config: Config, ssl_context: ssl.SSLContext, *, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._vantage = config.vantage
        # No connection pool between rounds is needed, but one client keeps TLS sessions and
        # spares a handshake per pull; the environment's proxies are never used (trust_env).
        self._client = httpx.AsyncClient(
            verify=ssl_context, trust_env=False, follow_redirects=False
        )

    async def pull(self) -> tuple[PeerPull, ...]:
        """One pull of every peer, in the configuration's order."""
        return tuple(await asyncio.gather(*(self._pull(peer) for peer in self._config.peers)))

    async def close(self) -> None:
        await self._client.aclose()

    async def _pull(self, peer: PeerConfig) -> PeerPull:
        url = peer.url.rstrip("/") + OBSERVATIONS_PATH
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": "identity",  # the bound counts wire bytes: nothing to inflate
            "Authorization": f"Bearer {peer.token}",
        }
        timeout = peer.timeout.total_seconds()
        try:
            async with asyncio.timeout(timeout):
                async with self._client.stream(
                    "GET", url, headers=headers, timeout=timeout
                ) as response:
                    status = response.status_code
                    if status in (401, 403):
                        return self._failed(
                            peer,
                            PeerProblem.UNAUTHENTICATED,
                            f"HTTP {status}: check peers[].token against its api.read_token",
                        )
                    if status >= 500 or status in (408, 429):
                        return self._failed(peer, PeerProblem.UNREACHABLE, f"HTTP {status}")
                    if status != 200:
                        return self._failed(
                            peer,
                            PeerProblem.MALFORMED,
                            f"HTTP {status} from {redact_url(url)} (not a regionwatch "
                            "observations endpoint?)",
                        )
                    body = await read_bounded(
                        response, MAX_DOCUMENT_BYTES, what="the observations document"
                    )
        except TimeoutError:
            return self._failed(peer, PeerProblem.UNREACHABLE, f"no answer within {timeout:g} s")
        except BodyTooLarge as e:
            return self._failed(peer, PeerProblem.MALFORMED, str(e))
        except httpx.HTTPError as e:
            return self._failed(peer, PeerProblem.UNREACHABLE, _http_error(e))
        try:
            document = parse(json.loads(body))
        except (ValueError, MalformedDocument) as e:
            # json's errors quote positions, never the body; ours say which key.
            return self._failed(peer, PeerProblem.MALFORMED, f"not an observations document: {e}")
        if document.vantage != peer.name:
            # Two entries pointing at one observer must never count as two witnesses.
            return self._failed(
                peer,
                PeerProblem.MALFORMED,
                f"it answers as vantage point {document.vantage!r}, configured as {peer.name!r}",
            )
        if document.vantage == self._vantage:
            return self._failed(
                peer, PeerProblem.MALFORMED, "it answers as this instance's own vantage point"
            )
        return PeerPull(peer.name, self._clock.now(), document)

    def _failed(self, peer: PeerConfig, problem: PeerProblem, detail: str) -> PeerPull:
        log.info("peer_pull_failed", peer=peer.name, problem=problem.value, detail=detail)
        return PeerPull(peer.name, self._clock.now(), problem=problem, detail=detail)


def _http_error(error: httpx.HTTPError) -> str:
    """One line, without the URL's secrets: the kind of failure and what the library said."""
    kind = type(error).__name__
    text = redact_urls(str(error).splitlines()[0]) if str(error) else ""
    return f"{kind}: {text}" if text else kind
