"""`--rate auto` against sandbox limits the client is not told (429 without Retry-After),
next to the same rows at the fixed default rate (5/s) in the same benchmark run.

Each row is a comment update: three requests (read, PATCH, refetch). Per limit:
goodput after the ramp (answers that were not 429 per second, from the first
second that reached 80% of the limit to the end), the share of 429s, and the
seconds until the rate first reached 80% of the limit.
"""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.common import Figure, first_order_id, run_cli, sandbox, stats, write_csv

LIMITS = (10, 40, 150)
REQUESTS_PER_ROW = 3


def _rows(workdir: Path, name: str, rows: int) -> Path:
    return write_csv(
        workdir / f"{name}.csv",
        "orderId,action,comment",
        (f"{first_order_id() + i},update,auto bench {i}" for i in range(rows)),
    )


def _run(url: str, path: Path, out: Path, rate: str) -> tuple[int, float]:
    code, wall_s, _ = run_cli(
        ["run", str(path), "--rate", rate, "--concurrency", "8", "--retries", "10",
         "--quiet", "--out", str(out)],
        base_url=url,
        cwd=out.parent,
    )  # fmt: skip
    return code, wall_s


def _ramp_s(per_second: list[int], limit: int) -> int | None:
    return next((i for i, count in enumerate(per_second) if count >= 0.8 * limit), None)


def bench_auto(seconds: float, default_rows: int, workdir: Path) -> list[Figure]:
    figures: list[Figure] = []
    with sandbox("--count", str(default_rows + 10), "--rate-limit", str(LIMITS[0]),
                 "--retry-after", "none") as url:  # fmt: skip
        _, default_wall_s = _run(url, _rows(workdir, "default", default_rows),
                                 workdir / "default", "5")  # fmt: skip
        default_seen = stats(url)
    default_rows_per_s = default_rows / default_wall_s
    default_per_s = (default_seen["requests"] - 1) / default_seen["arrival_span_s"]
    for limit in LIMITS:
        rows = max(20, int(limit * seconds / REQUESTS_PER_ROW))
        with sandbox("--count", str(rows + 10), "--rate-limit", str(limit),
                     "--retry-after", "none", "--cancel-delay", "3600") as url:  # fmt: skip
            code, wall_s = _run(url, _rows(workdir, f"auto-{limit}", rows),
                                workdir / f"auto-{limit}", "auto:300")  # fmt: skip
            seen = stats(url)
        per_second = seen["arrivals_per_second"]
        ramp_s = _ramp_s(per_second, limit)
        refused = seen["rate_limited"]
        share = refused / seen["requests"]
        whole = (seen["requests"] - refused) / seen["arrival_span_s"]
        # Goodput after the ramp: whole seconds from the first at 80% to the last full one.
        steady = per_second[ramp_s:-1] if ramp_s is not None else []
        steady_goodput = (sum(steady) - refused) / len(steady) if steady else 0.0
        speedup = rows / wall_s / default_rows_per_s
        figures += [
            Figure(
                f"auto, server limit {limit}/s: goodput after ramp",
                steady_goodput / limit * 100,
                "% of limit",
                ">= 90%",
                steady_goodput >= 0.9 * limit,
                f"whole run {whole / limit * 100:.0f}%; {speedup:.1f}x the rows/s of fixed 5/s",
            ),
            Figure(
                f"auto, server limit {limit}/s: 429 answers",
                share * 100,
                "% of requests",
                "<= 3%",
                share <= 0.03,
                f"{refused} of {seen['requests']}, exit {code}",
            ),
            Figure(
                f"auto, server limit {limit}/s: time to 80%",
                -1 if ramp_s is None else ramp_s,
                "s",
                "",
                None,
                f"fixed 5/s: {default_per_s:.2f} req/s, never",
            ),
        ]
    return figures
