"""Adaptation: the server allows 20 requests/s (429 without Retry-After); the client is
set to 100/s. Goodput (answers that were not 429 per second) and the share of 429s."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.common import Figure, first_order_id, run_cli, sandbox, stats, write_csv

SERVER_LIMIT = 20


def bench_adapt(rows: int, workdir: Path) -> list[Figure]:
    with sandbox(
        "--count", str(rows + 10), "--rate-limit", str(SERVER_LIMIT), "--retry-after", "none"
    ) as url:
        path = write_csv(
            workdir / "adapt.csv",
            "orderId,comment",
            (f"{first_order_id() + i},adapt bench" for i in range(rows)),
        )
        code, _, _ = run_cli(
            ["run", str(path), "--action", "update", "--rate", "100", "--concurrency", "8",
             "--retries", "10", "--out", str(workdir / "adapt"), "--quiet"],
            base_url=url,
            cwd=workdir,
        )  # fmt: skip
        seen = stats(url)
    good = seen["requests"] - seen["rate_limited"]
    goodput = good / seen["arrival_span_s"]
    share = seen["rate_limited"] / seen["requests"]
    return [
        Figure(
            "adaptation: goodput at a 20/s server limit",
            goodput,
            "req/s",
            f">= {0.85 * SERVER_LIMIT:g}/s",
            goodput >= 0.85 * SERVER_LIMIT,
            f"client set to 100/s, exit {code}",
        ),
        Figure(
            "adaptation: share of 429 answers",
            share * 100,
            "%",
            "<= 10%",
            share <= 0.10,
            f"{seen['rate_limited']} of {seen['requests']} requests",
        ),
    ]
