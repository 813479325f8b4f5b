"""Stopping a task that works through a queue: the one shutdown every worker here shares.

The engine, its recorder, each subscriber and the actuator all own one task reading one
`asyncio.Queue`. On stop each gets the same promise: what is already queued is finished if
that takes at most `grace` seconds, and whatever is left after that is abandoned — its owner
says what abandoning means (the recorder loses unwritten evidence, an action stays `intended`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def drain_then_cancel(
    queue: asyncio.Queue[Any], task: asyncio.Task[None], grace: float
) -> None:
    """Wait up to `grace` seconds for `queue` to be worked through, then cancel `task`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(grace):
            await queue.join()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
