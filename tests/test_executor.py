"""The one bounded fan-out: at most N at once, started in input order, stoppable."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.core.executor import run_on_each


async def test_at_most_n_run_at_once_and_items_start_in_order() -> None:
    running, most, started = 0, 0, []

    async def work(item: int) -> None:
        nonlocal running, most
        started.append(item)
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001 * (item % 3))
        running -= 1

    finished = await run_on_each(range(100), work, max_at_once=7, stop=asyncio.Event())
    assert finished is True
    assert most == 7
    assert started == list(range(100))


async def test_items_are_taken_lazily() -> None:
    taken = []

    def items() -> object:
        for item in range(1_000_000):
            taken.append(item)
            yield item

    stop = asyncio.Event()

    async def work(item: int) -> None:
        if item == 20:
            stop.set()
        await asyncio.sleep(0)

    assert await run_on_each(items(), work, max_at_once=4, stop=stop) is False  # type: ignore[arg-type]
    assert len(taken) < 40  # a million items never became a million tasks


async def test_stop_cancels_the_running_items_and_starts_no_more() -> None:
    stop = asyncio.Event()
    cancelled, started = [], []

    async def work(item: int) -> None:
        started.append(item)
        if item == 3:
            stop.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise

    assert await run_on_each(range(50), work, max_at_once=5, stop=stop) is False
    assert started == [0, 1, 2, 3, 4]
    assert sorted(cancelled) == started


async def test_a_failing_item_is_not_swallowed() -> None:
    async def work(item: int) -> None:
        if item == 2:
            raise ValueError("boom")

    with pytest.raises(ExceptionGroup):
        await run_on_each(range(5), work, max_at_once=2, stop=asyncio.Event())


async def test_a_grace_lets_the_running_items_finish_and_starts_no_more() -> None:
    """Items whose answer comes within the grace finish (an interrupt's requests in
    flight; without a grace they are cancelled, above). The answers come as soon as
    the stop is seen, so the grace is never waited out."""
    stop, answers = asyncio.Event(), asyncio.Event()
    started, finished = [], []

    async def work(item: int) -> None:
        started.append(item)
        if item == 3:
            stop.set()
        await answers.wait()  # an answer on its way
        finished.append(item)

    async def answer_after_the_stop() -> None:
        await stop.wait()
        await asyncio.sleep(0)
        answers.set()

    answering = asyncio.ensure_future(answer_after_the_stop())
    done = await run_on_each(range(10), work, max_at_once=4, stop=stop, grace_s=lambda: 5.0)
    await answering
    assert done is False
    assert started == [0, 1, 2, 3]
    assert sorted(finished) == [0, 1, 2, 3]


@pytest.mark.slow
async def test_the_grace_is_a_bound() -> None:
    stop = asyncio.Event()
    cancelled = []

    async def work(item: int) -> None:
        stop.set()
        try:
            await asyncio.sleep(60)  # never answers
        except asyncio.CancelledError:
            cancelled.append(item)
            raise

    grace = lambda: 0.05  # noqa: E731
    assert await run_on_each(range(3), work, max_at_once=1, stop=stop, grace_s=grace) is False
    assert cancelled == [0]
