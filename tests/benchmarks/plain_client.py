"""The baseline: a plain aiohttp script sending the same requests as quivo-bulk.

python -m tests.benchmarks.plain_client URL ROWS CONCURRENCY   # prints requests/s
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp


async def main(base_url: str, rows: int, concurrency: int) -> None:
    slots = asyncio.Semaphore(concurrency)
    headers = {"X-Api-Key": "k"}
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.post(f"{base_url}/login", json={"username": "u", "password": "p"}) as r:
            headers["Authorization"] = (await r.json())["token"]

        async def one(order_id: int) -> None:
            try:
                url = f"{base_url}/orders/{order_id}"
                async with session.patch(url, json={"comment": "x"}, headers=headers) as answer:
                    await answer.read()
                async with session.post(f"{url}/refetch", headers=headers) as answer:
                    await answer.json()
            finally:
                slots.release()

        async with asyncio.TaskGroup() as group:
            for order_id in range(4100001, 4100001 + rows):
                await slots.acquire()
                group.create_task(one(order_id))
        elapsed = time.perf_counter() - started
    print((2 * rows + 1) / elapsed)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
