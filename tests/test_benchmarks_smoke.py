"""The benchmarks still run (tiny sizes); the figures that hold at any size are checked.

The real numbers come from `make bench`, not from here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.__main__ import main
from tests.benchmarks.adapt import bench_adapt
from tests.benchmarks.rate import bench_rate
from tests.benchmarks.scale import bench_scale
from tests.benchmarks.startup import bench_startup


@pytest.mark.slow
def test_the_rate_window_holds_at_the_server(tmp_path: Path) -> None:
    most, achieved = bench_rate(50, 60, tmp_path)
    assert most.passed, most.line()
    assert most.baseline.startswith("AsyncLimiter(50, 1):")
    assert achieved.value > 0


@pytest.mark.slow
def test_adaptation_and_scale_benchmarks_produce_their_figures(tmp_path: Path) -> None:
    goodput, share = bench_adapt(20, tmp_path)
    assert goodput.value > 0
    assert 0 <= share.value <= 100
    wall, rss, _ = bench_scale(2_000, tmp_path)
    assert wall.passed, wall.line()
    assert rss.passed, rss.line()


def test_startup_is_fast() -> None:
    (figure,) = bench_startup()
    assert figure.passed, figure.line()


@pytest.mark.slow
def test_the_whole_suite_runs_in_smoke_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--smoke"]) == 0
    output = capsys.readouterr().out
    assert output.count("target") == 32
