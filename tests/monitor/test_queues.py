"""drain_then_cancel: queued work is finished within the grace, and never waited on past it."""

from __future__ import annotations

import asyncio

from monitor.queues import drain_then_cancel


async def worker(queue: asyncio.Queue[float], done: list[float]) -> None:
    while True:
        delay = await queue.get()
        try:
            await asyncio.sleep(delay)
            done.append(delay)
        finally:
            queue.task_done()


async def test_what_is_queued_is_finished_before_the_task_is_cancelled() -> None:
    queue: asyncio.Queue[float] = asyncio.Queue()
    done: list[float] = []
    task = asyncio.create_task(worker(queue, done))
    for _ in range(3):
        queue.put_nowait(0)
    await drain_then_cancel(queue, task, grace=5)
    assert done == [0, 0, 0]
    assert task.cancelled()


async def test_work_that_outlasts_the_grace_is_cancelled() -> None:
    queue: asyncio.Queue[float] = asyncio.Queue()
    done: list[float] = []
    task = asyncio.create_task(worker(queue, done))
    queue.put_nowait(0)
    queue.put_nowait(3600)  # would hang the shutdown for an hour if the grace were ignored
    await drain_then_cancel(queue, task, grace=0.05)
    assert done == [0]
    assert task.cancelled()
