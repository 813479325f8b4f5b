"""Waiting for what became of one decision: a person's command is answered with its audit
record once the actuator has reported back, rather than with a promise."""

from __future__ import annotations

import asyncio

from monitor.engine import Publication
from monitor.evidence import ActionFinished

__all__ = ["Outcomes"]


class Outcomes:
    """Futures keyed by decision id, resolved by the engine's publication of the actuator's
    report (`ActionFinished`). Subscribe `handle` to the engine; `expect` before the
    decision can be made, so its report cannot pass unseen."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[ActionFinished]] = {}

    def expect(self, decision_id: str) -> asyncio.Future[ActionFinished]:
        """A future for the report on `decision_id`; `forget` it when done waiting."""
        future: asyncio.Future[ActionFinished] = asyncio.get_running_loop().create_future()
        self._waiting[decision_id] = future
        return future

    def forget(self, decision_id: str) -> None:
        future = self._waiting.pop(decision_id, None)
        if future is not None and not future.done():
            future.cancel()

    async def handle(self, publication: Publication) -> None:
        evidence = publication.evidence
        if isinstance(evidence, ActionFinished):
            future = self._waiting.pop(evidence.decision_id, None)
            if future is not None and not future.done():
                future.set_result(evidence)
