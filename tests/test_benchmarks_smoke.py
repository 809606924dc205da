"""The benchmarks still run (tiny sizes); the figures that hold at any size are checked.

The real numbers come from `make bench`, not from here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.__main__ import main
from tests.benchmarks.adapt import SERVER_LIMIT, bench_adapt
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
    # Loose bounds (wall clock, tiny run): the run adapted to the 20/s server instead of
    # collapsing to its floor or hammering it with 429s. `make bench` holds the real targets.
    assert goodput.value >= 0.5 * SERVER_LIMIT, goodput.line()
    assert share.value <= 50, share.line()
    wall, rss, _ = bench_scale(2_000, tmp_path)
    assert wall.passed, wall.line()
    assert rss.passed, rss.line()


def test_the_command_line_loads_no_heavy_library_before_a_command_runs() -> None:
    """What keeps `quivo-bulk --help` fast (its time is a `make bench` figure, not a test):
    building the command group imports neither polars, aiohttp nor the settings machinery."""
    heavy = ("polars", "aiohttp", "pydantic", "pydantic_settings", "openpyxl", "jinja2")
    probe = (
        "import sys, pipeline.cli; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


@pytest.mark.slow
def test_the_startup_figure_is_measured() -> None:
    (figure,) = bench_startup()
    assert figure.value > 0
    assert figure.target == "< 0.3 s"


@pytest.mark.slow
def test_the_whole_suite_runs_in_smoke_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--smoke"]) == 0
    output = capsys.readouterr().out
    assert output.count("target") == 43  # 32, the 7 of the batched checks, the 4 few-orders
