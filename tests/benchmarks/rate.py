"""Rate accuracy: the largest count in any one-second window at the server, and the
achieved rate, for `quivo-bulk run` and for plain aiolimiter in the same run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from aiolimiter import AsyncLimiter

from tests.benchmarks.common import (
    Figure,
    first_order_id,
    reset,
    run_cli,
    sandbox,
    stats,
    write_csv,
)


async def _paced(base_url: str, limiter: AsyncLimiter, count: int, concurrency: int) -> None:
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with slots:
                await limiter.acquire()
                async with session.get(f"{base_url}/orders/{first_order_id()}") as answer:
                    await answer.read()

        async with asyncio.TaskGroup() as group:
            for _ in range(count):
                group.create_task(one())


def _server_view(base_url: str) -> tuple[int, float]:
    seen = stats(base_url)
    return seen["max_requests_in_any_second"], (seen["requests"] - 1) / seen["arrival_span_s"]


def bench_rate(rate: float, rows: int, workdir: Path) -> list[Figure]:
    with sandbox("--count", str(rows + 10), "--cancel-delay", "3600") as url:
        # Same-run baselines: plain aiolimiter, both ways of configuring it.
        count = int(rate * 3)
        asyncio.run(_paced(url, AsyncLimiter(rate, 1), count, 8))
        burst_max, _ = _server_view(url)
        reset(url)
        asyncio.run(_paced(url, AsyncLimiter(1, 1 / rate), count, 8))
        _, even_achieved = _server_view(url)
        reset(url)
        path = write_csv(
            workdir / f"rate-{rate:g}.csv",
            "orderId,comment",
            (f"{first_order_id() + i},rate bench" for i in range(rows)),
        )
        run_cli(
            ["run", str(path), "--action", "update", "--rate", f"{rate:g}", "--concurrency", "8",
             "--out", str(workdir / f"rate-{rate:g}"), "--quiet"],
            base_url=url,
            cwd=workdir,
        )  # fmt: skip
        most, achieved = _server_view(url)
    return [
        Figure(
            f"rate {rate:g}/s: most requests in any second",
            most,
            "req",
            f"<= {rate:g}",
            most <= rate,
            f"AsyncLimiter({rate:g}, 1): {burst_max}",
        ),
        Figure(
            f"rate {rate:g}/s: achieved rate",
            achieved / rate * 100,
            "% of rate",
            ">= 99%",
            achieved >= 0.99 * rate,
            f"AsyncLimiter(1, 1/{rate:g}): {even_achieved / rate * 100:.1f}%",
        ),
    ]
