"""Resolve cost: a run keyed by 3,000 shop order numbers (`#1001`...) resolves them in
batched `GET /orders` OR-queries; the figure is the number of lookups and the time they take."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.benchmarks.common import Figure, reset, run_cli, sandbox, stats, write_csv

BATCH = 50  # the profile's key_search_batch


def bench_resolve(count: int, workdir: Path) -> list[Figure]:
    path = write_csv(
        workdir / "shop-numbers.csv",
        "Order Number",
        iter(f"#{1001 + n}" for n in range(count)),
    )
    with sandbox("--count", str(count + 100), "--seed", "7") as base_url:
        reset(base_url)
        out = workdir / "resolve"
        code, wall_s, _ = run_cli(
            ["run", str(path), "--action", "cancel", "--dry-run", "--rate", "0", "--quiet",
             "--out", str(out)],
            base_url=base_url,
            cwd=workdir,
        )  # fmt: skip
        served = stats(base_url)
    summary = json.loads((out / "summary.json").read_text())
    lookups = int(summary["requests_by_kind"]["lookup"])
    resolved = sum(summary["outcomes"].get(o, 0) for o in ("dry_run",))
    expected = math.ceil(count / BATCH)
    return [
        Figure(
            f"resolve {count:,} shop order numbers: lookups",
            lookups,
            "requests",
            f"<= {expected}",
            lookups <= expected and resolved == count and code == 0,
            f"one lookup per row: {count:,}; served {served['by_endpoint'].get('list', 0)}",
        ),
        Figure(
            "the same: wall time of the dry run (unpaced)",
            wall_s,
            "s",
            "(info)",
            None,
            f"at the default 5/s the lookups take ~{lookups / 5:.0f} s",
        ),
    ]
