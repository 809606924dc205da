"""`make bench`: every benchmark, one line per figure with its target and baseline.

    python -m tests.benchmarks            # the full suite (a few minutes)
    python -m tests.benchmarks --smoke    # tiny sizes: checks the benchmarks still run
    python -m tests.benchmarks --few-orders   # one figure: 645,000 rows over 181 orders

Exits 1 when a figure misses its target. Results also go to bench-results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from tests.benchmarks.adapt import bench_adapt
from tests.benchmarks.auto import bench_auto
from tests.benchmarks.batched import bench_apply, bench_followup, bench_plan_cancels, bench_ui_send
from tests.benchmarks.common import REPO, Figure
from tests.benchmarks.few_orders import bench_few_orders
from tests.benchmarks.memory import bench_memory
from tests.benchmarks.overhead import bench_overhead
from tests.benchmarks.rate import bench_rate
from tests.benchmarks.resolve import bench_resolve
from tests.benchmarks.scale import bench_dry_run_memory, bench_scale
from tests.benchmarks.startup import bench_startup
from tests.benchmarks.ui_grid import bench_ui_grid

FULL = {"rate_rows": 1500, "overhead_rows": 20_000, "adapt_rows": 200, "scale_rows": 1_000_000,
        "dry_small": 10_000, "dry_large": 100_000, "resolve_keys": 3_000,
        "ui_rows": 100_000, "auto_s": 40, "default_rows": 40,
        "real_small": 10_000, "real_large": 100_000, "batched_apply": 3_000,
        "batched_cancels": 3_000, "batched_ui": 300, "followup": 1_000,
        "few_orders": 645_000}  # fmt: skip
SMOKE = {"rate_rows": 60, "overhead_rows": 400, "adapt_rows": 30, "scale_rows": 20_000,
         "dry_small": 1_000, "dry_large": 5_000, "resolve_keys": 120, "ui_rows": 2_000,
         "auto_s": 2, "default_rows": 4, "real_small": 200, "real_large": 1_000,
         "batched_apply": 30, "batched_cancels": 100, "batched_ui": 40,
         "followup": 80, "few_orders": 2_000}  # fmt: skip


def suite(sizes: dict[str, int], workdir: Path) -> list[Callable[[], list[Figure]]]:
    return [
        bench_startup,
        lambda: bench_rate(50, sizes["rate_rows"], workdir),
        lambda: bench_rate(200, sizes["rate_rows"], workdir),
        lambda: bench_overhead(sizes["overhead_rows"], workdir),
        lambda: bench_adapt(sizes["adapt_rows"], workdir),
        lambda: bench_scale(sizes["scale_rows"], workdir),
        lambda: bench_dry_run_memory(sizes["dry_small"], sizes["dry_large"], workdir),
        lambda: bench_resolve(sizes["resolve_keys"], workdir),
        lambda: bench_ui_grid(sizes["ui_rows"], workdir),
        lambda: bench_auto(sizes["auto_s"], sizes["default_rows"], workdir),
        lambda: bench_memory(sizes["real_small"], sizes["real_large"], workdir),
        lambda: bench_apply(sizes["batched_apply"], workdir),
        lambda: bench_plan_cancels(sizes["batched_cancels"], workdir),
        lambda: bench_ui_send(sizes["batched_ui"], workdir),
        lambda: bench_followup(sizes["followup"], workdir),
        lambda: bench_few_orders(sizes["few_orders"], workdir),
    ]


def main(argv: list[str] | None = None, *, figures: list[Figure] | None = None) -> int:
    """Run the suite, print its figures; `figures`, when given, collects them too (the
    test suite runs the smoke once and checks single figures from it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--few-orders", action="store_true", help="only the few-orders figure")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures = [] if figures is None else figures
    print(f"quivo-bulk benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}")
    with tempfile.TemporaryDirectory() as folder:
        sizes = SMOKE if args.smoke else FULL
        benches = suite(sizes, Path(folder))
        if args.few_orders:
            benches = [lambda: bench_few_orders(sizes["few_orders"], Path(folder))]
        for bench in benches:
            for figure in bench():
                print(figure.line(), flush=True)
                figures.append(figure)
    failed = [f for f in figures if f.passed is False]
    print(f"{len(figures) - len(failed)} passed, {len(failed)} failed "
          f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    if not args.smoke:
        out = REPO / "bench-results"
        out.mkdir(exist_ok=True)
        (out / "latest.json").write_text(json.dumps([asdict(f) for f in figures], indent=2))
    return 1 if failed and not args.smoke else 0


if __name__ == "__main__":
    sys.exit(main())
