"""A trace of send times against arrival times, for the fullest one-second window.

    python -m tests.benchmarks.trace_window 50          # rate 50/s, 1,500 requests
    python -m tests.benchmarks.trace_window 200 4500 --cli   # the same through `quivo-bulk run`

The pacer stamps each send (loop.time, CLOCK_MONOTONIC); the sandbox, in its own
process, stamps each arrival on the same clock. The script finds the server's
fullest one-second window and prints both timelines around it: when the server
counts rate+1, the client's sends in that stretch were still >= 1 s + margin
apart, and the extra one is a request that arrived late (queued by the OS or the
server's loop), so a later window gets its arrival squeezed in.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from pipeline.api.rate.pacer import WINDOW_MARGIN_S, Pacer
from pipeline.api.transport import Transport
from tests.benchmarks.common import CREDENTIALS, QUIVO_BULK, first_order_id, sandbox, write_csv


async def _send(base_url: str, rate: float, count: int) -> list[float]:
    """Send `count` GETs through the pacer and the transport; return the final stamps."""
    pacer, slots, stamps = Pacer(rate), asyncio.Semaphore(8), []
    transport = Transport(
        base_url=base_url, timeout_s=30, connect_timeout_s=10, max_body_bytes=1 << 23,
        connections=9,
    )  # fmt: skip
    async with transport:

        async def one(number: int) -> None:
            async with slots:
                stamp = await pacer.acquire()
                path = f"/orders/{first_order_id() + number % 100}"
                await transport.send("GET", path, headers={}, stamp=stamp)
                assert stamp is not None
                stamps.append(stamp.at)

        async with asyncio.TaskGroup() as group:
            for number in range(count):
                group.create_task(one(number))
    return stamps


def _fullest(stamps: list[float]) -> tuple[int, int]:
    """(first index, count) of the fullest half-open window [t, t+1)."""
    best, start, best_start = 0, 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= 1.0:
            start += 1
        if end - start + 1 > best:
            best, best_start = end - start + 1, start
    return best_start, best


def _send_by_cli(base_url: str, rate: float, count: int, workdir: Path) -> list[float]:
    """Run `quivo-bulk run` (comment updates) with debug logs; return its send stamps."""
    path = write_csv(
        workdir / "trace.csv",
        "orderId,action,comment",
        (f"{first_order_id() + i},update,trace {i}" for i in range(count // 3)),
    )
    env = {**os.environ, **CREDENTIALS, "QUIVO_BASE_URL": base_url}
    finished = subprocess.run(
        [*QUIVO_BULK, "--log-level", "debug", "run", str(path), "--rate", f"{rate:g}",
         "--concurrency", "8", "--quiet", "--out", str(workdir / "trace")],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return [float(m) for m in re.findall(r"sent at (\d+\.\d+)\)", finished.stderr)]


def main(rate: float, count: int, *, cli: bool) -> None:
    with sandbox("--count", str(count + 10), "--cancel-delay", "3600") as url:
        if cli:
            with tempfile.TemporaryDirectory() as folder:
                sent = sorted(_send_by_cli(url, rate, count, Path(folder)))
        else:
            sent = sorted(asyncio.run(_send(url, rate, count)))
        with urllib.request.urlopen(f"{url}/_sandbox/arrivals") as answer:  # loopback
            arrived = sorted(json.load(answer))
    count = min(len(sent), len(arrived))
    sent, arrived = sent[:count], arrived[:count]
    start, most = _fullest(arrived)
    _, client_most = _fullest(sent)
    delays = [a - s for s, a in zip(sent, arrived, strict=True)]
    print(f"rate {rate:g}/s, {count} requests, margin {WINDOW_MARGIN_S * 1000:.0f} ms")
    print(f"client: fullest 1-s window {client_most}; server: fullest 1-s window {most}")
    print(f"send->arrival delay: median {sorted(delays)[len(delays) // 2] * 1000:.2f} ms,"
          f" max {max(delays) * 1000:.2f} ms")  # fmt: skip
    first, last = start, start + most - 1
    print(f"server window: arrivals #{first}..#{last},"
          f" {arrived[last] - arrived[first]:.4f} s apart;"
          f" sent {sent[last] - sent[first]:.4f} s apart")  # fmt: skip
    print(" #      sent (s)   arrived (s)  delay (ms)")
    origin = sent[first]
    for index in [*range(first, first + 3), *range(last - 2, min(last + 2, count))]:
        print(f"{index:5d}  {sent[index] - origin:9.4f}  {arrived[index] - origin:11.4f}"
              f"  {(arrived[index] - sent[index]) * 1000:9.2f}")  # fmt: skip


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--cli"]
    main(float(arguments[0]) if arguments else 50.0,
         int(arguments[1]) if len(arguments) > 1 else 1500, cli="--cli" in sys.argv)  # fmt: skip
