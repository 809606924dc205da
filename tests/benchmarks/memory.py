"""A real run (not a dry run) of many rows against the sandbox: peak RSS, memory per
row, and journal bytes per row; the same run with `--no-refetch` as the baseline.

Comment updates: each row's order is read first (before-image), changed, and
refetched, so the journal holds two orders per row.
"""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.common import Figure, first_order_id, run_cli, sandbox, write_csv

MIB = 2**20


def _comments(workdir: Path, rows: int) -> Path:
    return write_csv(
        workdir / f"comments-{rows}.csv",
        "orderId,action,comment",
        (f"{first_order_id() + i},update,memory bench {i}" for i in range(rows)),
    )


def _run(url: str, path: Path, out: Path, *extra: str) -> tuple[int, float, int]:
    code, wall_s, rss = run_cli(
        ["run", str(path), "--rate", "0", "--concurrency", "16", "--quiet", "--out", str(out),
         *extra],
        base_url=url,
        cwd=out.parent,
    )  # fmt: skip
    if code not in (0, 1):
        raise RuntimeError(f"run of {path.name} exited {code}")
    return code, wall_s, rss


def bench_memory(small: int, large: int, workdir: Path) -> list[Figure]:
    peaks, journal_bytes, walls = {}, {}, {}
    with sandbox("--count", str(large + 10), "--cancel-delay", "3600") as url:
        for rows in (small, large):
            out = workdir / f"real-{rows}"
            _, walls[rows], peaks[rows] = _run(url, _comments(workdir, rows), out)
            journal_bytes[rows] = (out / "journal.sqlite").stat().st_size
        _, _, no_refetch = _run(
            url, _comments(workdir, large), workdir / "real-no-refetch", "--no-refetch"
        )
    per_row = (peaks[large] - peaks[small]) / (large - small)
    journal_per_row = journal_bytes[large] / large
    return [
        Figure(
            f"real run {large:,} rows: peak RSS",
            peaks[large] / MIB,
            "MiB",
            "< 500 MiB",
            peaks[large] < 500 * MIB,
            f"--no-refetch: {no_refetch / MIB:,.0f} MiB; {walls[large]:.0f} s",
        ),
        Figure(
            "real run: memory per extra row",
            per_row,
            "bytes",
            "<= 2048 B",
            per_row <= 2048,
            f"{small:,} rows: {peaks[small] / MIB:,.0f} MiB (before: ~18 KB/row)",
        ),
        Figure(
            f"real run {large:,} rows: journal per row",
            journal_per_row,
            "bytes",
            "< 1536 B",
            journal_per_row < 1536,
            f"{journal_bytes[large] / MIB:,.0f} MiB; orders as text: ~6 KB/row",
        ),
    ]
