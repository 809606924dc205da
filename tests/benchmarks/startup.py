"""Start-up: `quivo-bulk --help` wall time (best of 5), next to `python -c pass`."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.benchmarks.common import QUIVO_BULK, REPO, Figure


def _best_of(command: list[str], times: int = 5) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO, capture_output=True, check=True)
        best = min(best, time.perf_counter() - started)
    return best


def bench_startup() -> list[Figure]:
    bare = _best_of([sys.executable, "-c", "pass"])
    help_s = _best_of([*QUIVO_BULK, "--help"])
    return [
        Figure(
            "start-up: quivo-bulk --help",
            help_s,
            "s",
            "< 0.3 s",
            help_s < 0.3,
            f"python -c pass: {bare:.3f} s",
        )
    ]
