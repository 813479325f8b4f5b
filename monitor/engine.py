"""The engine: every item of evidence applied in arrival order, by one task.

Producers `submit` evidence and move on. The engine's task takes each item, folds it into a
new snapshot (`monitor.fold`, pure), derives the events between the two (`monitor.events`,
pure), swaps the snapshot in, and hands the evidence and events to the recorder (the store,
written on a task of its own) and to every subscriber (each on a task and a bounded queue of
its own). The fold, the derivation and the swap happen with no await in between, so a reader
sees the snapshot before an item or after it, never half of it; and neither a slow store nor a
failing subscriber can hold the engine up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from monitor.clock import Clock
from monitor.config import Config
from monitor.controls import mark_silenced
from monitor.events import Event, derive
from monitor.evidence import Evidence
from monitor.facts import fact_events
from monitor.fold import step
from monitor.policy import Decision
from monitor.queues import drain_then_cancel
from monitor.recorder import Recorder
from monitor.snapshot import Snapshot

__all__ = ["Engine", "Publication", "Subscriber"]

log = structlog.get_logger("monitor.engine")


@dataclass(frozen=True, slots=True)
class Publication:
    """What subscribers get for each item applied: the new snapshot, the events it caused
    (often none), and the evidence itself."""

    snapshot: Snapshot
    events: tuple[Event, ...]
    evidence: Evidence
    lag: float = 0.0  # seconds from the evidence's submission to this publication
    decisions: tuple[Decision, ...] = ()  # the failover policy's, from this item


@dataclass(slots=True)
class _Item:
    evidence: Evidence
    submitted: float  # the clock's monotonic reading, for the engine's lag
    done: asyncio.Future[Snapshot] | None = None


Handler = Callable[[Publication], Awaitable[None]]


@dataclass(slots=True)
class Subscriber:
    """One consumer of publications, on its own task behind a bounded queue: when it falls
    behind, the oldest publications it has not taken are dropped (and counted), never the
    engine slowed. Its failures are logged, and it goes on with the next one."""

    name: str
    handler: Handler
    size: int = 1000
    dropped: int = 0
    _queue: asyncio.Queue[Publication] = field(init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _behind: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.size)

    @property
    def queued(self) -> int:
        """Publications waiting for the handler."""
        return self._queue.qsize()

    def offer(self, publication: Publication) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if not self._behind:
                self._behind = True  # told once per burst, not per publication
                log.warning("subscriber_fell_behind", subscriber=self.name, queue=self.size)
        self._queue.put_nowait(publication)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"subscriber:{self.name}")

    async def stop(self, *, grace: float) -> None:
        """Let it take what is queued (up to `grace` seconds), then stop it."""
        if self._task is None:
            return
        await drain_then_cancel(self._queue, self._task, grace)
        self._task = None

    async def _run(self) -> None:
        while True:
            publication = await self._queue.get()
            try:
                await self.handler(publication)
            except Exception:
                log.exception("subscriber_failed", subscriber=self.name)
            finally:
                self._queue.task_done()
            if self._behind and self._queue.empty():
                self._behind = False
                log.info("subscriber_caught_up", subscriber=self.name, dropped=self.dropped)


class Engine:
    """The only writer of decision state. See the module's docstring."""

    def __init__(
        self, config: Config, *, clock: Clock, first: Snapshot, recorder: Recorder
    ) -> None:
        self._config = config
        self._clock = clock
        self._snapshot = first
        self._recorder = recorder
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._subscribers: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None
        self.lag: float = 0.0  # seconds from submit to published, of the last item
        # Where the policy's decisions go: the actuator's inbox, which never drops one.
        self.decisions: Callable[[Sequence[Decision]], None] | None = None

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot: whole and immutable."""
        return self._snapshot

    def submit(self, evidence: Evidence) -> None:
        """Queue `evidence`; returns at once. Applied in the order submitted."""
        self._queue.put_nowait(_Item(evidence, self._clock.monotonic()))

    async def apply(self, evidence: Evidence) -> Snapshot:
        """Queue `evidence` and wait until it is applied; returns the snapshot it made."""
        done: asyncio.Future[Snapshot] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(evidence, self._clock.monotonic(), done))
        return await done

    async def settle(self) -> Snapshot:
        """Wait until everything submitted so far is applied and recorded, and whatever that
        caused in turn (the store telling its writes failed, say); returns the snapshot."""
        while True:
            await self._queue.join()
            await self._recorder.flush()
            if self._queue.empty():
                return self._snapshot

    def subscribe(self, name: str, handler: Handler, *, size: int = 1000) -> Subscriber:
        """Deliver every publication from now on to `handler`, on a task of its own."""
        subscriber = Subscriber(name, handler, size)
        self._subscribers.append(subscriber)
        if self._task is not None:
            subscriber.start()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    async def start(self) -> None:
        self._recorder.start()
        for subscriber in self._subscribers:
            subscriber.start()
        self._task = asyncio.create_task(self._run(), name="engine")

    async def stop(self, *, grace: float = 2.0) -> None:
        """Apply what is already queued, then let the recorder and the subscribers finish,
        each for at most `grace` seconds."""
        if self._task is not None:
            await drain_then_cancel(self._queue, self._task, grace)
            self._task = None
        await self._recorder.stop(grace=grace)
        for subscriber in self._subscribers:
            await subscriber.stop(grace=grace)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                self._step(item)
            except Exception as e:  # our bug: this item is lost, never the engine
                log.exception("evidence_not_applied", evidence=type(item.evidence).__name__)
                if item.done is not None and not item.done.done():
                    item.done.set_exception(e)
            finally:
                self._queue.task_done()
            # A queue that is never empty never suspends `get()`: yield after each item so a
            # burst of evidence cannot keep `/healthz`, the API and the subscribers waiting.
            await asyncio.sleep(0)

    def _step(self, item: _Item) -> None:
        before = self._snapshot
        made = step(before, item.evidence, config=self._config, now=self._clock.now())
        after = made.snapshot
        events = (
            *derive(before.conditions, after.conditions, at=after.made_at, instance=after.instance),
            *fact_events(
                item.evidence,
                made.deploys,
                at=after.made_at,
                instance=after.instance,
                controls=made.controls,
                config=self._config,
            ),
        )
        if after.controls.items:
            events = mark_silenced(events, after.controls, after.made_at)
        self._snapshot = after
        self._recorder.record(item.evidence, events, made.deploys, made.controls)
        if made.decisions and self.decisions is not None:
            self.decisions(made.decisions)
        self.lag = self._clock.monotonic() - item.submitted
        publication = Publication(after, events, item.evidence, self.lag, made.decisions)
        for subscriber in self._subscribers:
            subscriber.offer(publication)
        if item.done is not None and not item.done.done():
            item.done.set_result(after)
