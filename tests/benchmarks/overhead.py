"""Client overhead: quivo-bulk's requests/s with no rate limit, over a plain aiohttp
script's, both against the same minimal fast server, in the same run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.benchmarks.common import REPO, Figure, first_order_id, run_cli, server, write_csv

CONCURRENCY = 16


def bench_overhead(rows: int, workdir: Path) -> list[Figure]:
    with server([sys.executable, "-m", "tests.benchmarks.fast_server"]) as url:
        plain = float(
            subprocess.run(
                [sys.executable, "-m", "tests.benchmarks.plain_client", url, str(rows),
                 str(CONCURRENCY)],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )  # fmt: skip
        path = write_csv(
            workdir / "overhead.csv",
            "orderId,comment",
            # Not the plain client's value: the orders must really change.
            (f"{first_order_id() + i},quivo-bulk {i}" for i in range(rows)),
        )
        out = workdir / "overhead"
        code, wall_s, rss = run_cli(
            # --snapshot never: the plain client's requests exactly (PATCH + refetch per
            # row); the before-image read is priced separately (docs/plan-apply-undo.md).
            ["run", str(path), "--action", "update", "--rate", "0", "--concurrency",
             str(CONCURRENCY), "--snapshot", "never", "--out", str(out), "--quiet"],
            base_url=url,
            cwd=workdir,
        )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    ours = summary["achieved_requests_per_s"]
    whole = summary["requests"] / wall_s
    applied = summary["outcomes"].get("applied", 0)
    return [
        Figure(
            "overhead: quivo-bulk / plain aiohttp req/s",
            ours / plain,
            "ratio",
            ">= 0.60",
            ours / plain >= 0.60 and applied == rows,
            f"{ours:,.0f} vs {plain:,.0f} req/s ({rows:,} rows, {CONCURRENCY} in flight)",
        ),
        Figure(
            "overhead: whole command incl. read+reports",
            whole,
            "req/s",
            "",
            None,
            f"{wall_s:.1f} s wall, peak RSS {rss / 2**20:,.0f} MiB, exit {code}",
        ),
    ]
