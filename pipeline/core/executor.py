"""The one place that spawns tasks: a bounded, stoppable fan-out (after aiometer's run_on_each).

    await run_on_each(orders, process, max_at_once=16, stop=stop_event)

At most `max_at_once` items run at once; items are started lazily in input
order, so a million items never become a million tasks. When `stop` is set,
no further item starts; the running ones get `grace_s()` seconds to finish
(asked at that moment; 0 by default), then they are cancelled; the call returns
normally and the caller reads what finished from its own records.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def run_on_each(
    items: Iterable[T],
    fn: Callable[[T], Awaitable[None]],
    *,
    max_at_once: int,
    stop: asyncio.Event,
    grace_s: Callable[[], float] = lambda: 0.0,
) -> bool:
    """Run `fn` on every item with bounded concurrency; return False if `stop` cut it short."""
    if max_at_once < 1:
        raise ValueError("max_at_once must be at least 1")
    slots = asyncio.Semaphore(max_at_once)

    async def guarded(item: T) -> None:
        try:
            await fn(item)
        finally:
            slots.release()

    async def feed(group: asyncio.TaskGroup) -> None:
        for item in items:
            await slots.acquire()
            if stop.is_set():
                slots.release()
                return
            group.create_task(guarded(item))

    async def all_items() -> None:
        async with asyncio.TaskGroup() as group:
            await feed(group)

    work = asyncio.ensure_future(all_items())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done() and (grace := grace_s()) > 0:
            await asyncio.wait({work}, timeout=grace)  # the running items may finish
    finally:
        stopped.cancel()
        if not work.done():
            work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
    return not stop.is_set()
