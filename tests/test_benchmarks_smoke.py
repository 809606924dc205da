"""The benchmarks still run (tiny sizes); the figures that hold at any size are checked.

The real numbers come from `make bench`, not from here.
"""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass

import pytest

from tests.benchmarks.__main__ import SMOKE, main
from tests.benchmarks.adapt import SERVER_LIMIT
from tests.benchmarks.common import Figure

# The suite runs once (at its smoke sizes) for all the tests below, each of which reads
# its figures from that run: one worker runs them all (ONE_WORKER_MODULES in conftest).


@dataclass(frozen=True)
class Smoke:
    code: int
    output: str
    figures: list[Figure]

    def figure(self, name: str) -> Figure:
        (found,) = [f for f in self.figures if f.name == name]
        return found


@pytest.fixture(scope="module")
def smoke() -> Smoke:
    """`python -m tests.benchmarks --smoke`, run once: its exit code, output and figures."""
    figures: list[Figure] = []
    output = io.StringIO()
    with redirect_stdout(output):
        code = main(["--smoke"], figures=figures)
    return Smoke(code, output.getvalue(), figures)


@pytest.mark.slow
def test_the_rate_window_holds_at_the_server(smoke: Smoke) -> None:
    assert SMOKE["rate_rows"] == 60  # bench_rate(50, 60)
    most = smoke.figure("rate 50/s: most requests in any second")
    achieved = smoke.figure("rate 50/s: achieved rate")
    assert most.passed, most.line()
    assert most.baseline.startswith("AsyncLimiter(50, 1):")
    assert achieved.value > 0


@pytest.mark.slow
def test_adaptation_and_scale_benchmarks_produce_their_figures(smoke: Smoke) -> None:
    goodput = smoke.figure("adaptation: goodput at a 20/s server limit")
    share = smoke.figure("adaptation: share of 429 answers")
    # Loose bounds (wall clock, tiny run): the run adapted to the 20/s server instead of
    # collapsing to its floor or hammering it with 429s. `make bench` holds the real targets.
    assert goodput.value >= 0.5 * SERVER_LIMIT, goodput.line()
    assert share.value <= 50, share.line()
    rows = SMOKE["scale_rows"]
    assert rows >= 2_000  # the same bounds as at 2,000 rows, over at least as many
    wall = smoke.figure(f"scale: validate {rows:,} rows, wall time")
    rss = smoke.figure(f"scale: validate {rows:,} rows, peak RSS")
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
def test_the_startup_figure_is_measured(smoke: Smoke) -> None:
    figure = smoke.figure("start-up: quivo-bulk --help")
    assert figure.value > 0
    assert figure.target == "< 0.3 s"


@pytest.mark.slow
def test_the_whole_suite_runs_in_smoke_mode(smoke: Smoke) -> None:
    assert smoke.code == 0
    assert smoke.output.count("target") == 43  # 32, the 7 of the batched checks, the 4 few-orders
    assert len(smoke.figures) == 43
