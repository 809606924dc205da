"""`--rate` end to end against the sandbox: a count per period, and `--rate auto` (SPEC §5, §12).

Wall-clock tests, marked slow, with loose tolerances."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.sandbox import SandboxConfig, SandboxThread
from tests.conftest import comment_file, state_of
from tests.test_cli import cli_env


def most_in_any_window(arrivals: list[float], window_s: float) -> int:
    most, start = 0, 0
    for end, arrived in enumerate(arrivals):
        while arrived - arrivals[start] >= window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.slow
def test_a_count_per_period_is_exact_and_bounded_over_its_period(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    path, _ = comment_file(sandbox, tmp_path, 8, "paced")  # login + 8 x (read, PATCH, refetch)
    result = CliRunner().invoke(
        main,
        ["run", str(path), "--action", "update", "--rate", "5/2s", "--out", str(tmp_path / "r"),
         "--quiet"],
        env=cli_env(sandbox),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    arrivals = state_of(sandbox).stats.arrivals
    assert len(arrivals) >= 17
    assert most_in_any_window(arrivals, 2.0) <= 5
    assert most_in_any_window(arrivals, 1.0) <= 3
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert achieved > 2.3  # 2.5/s, not 2 per second rounded down
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["rate"]["limit_per_s"] == 2.5
    assert summary["rate"]["period_s"] == 2.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "sandbox", [SandboxConfig(rate_limit_per_s=20, retry_after="none")], indirect=True
)
def test_rate_auto_finds_the_limit_and_the_job_remembers_it(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    path, _ = comment_file(sandbox, tmp_path, 100, "auto")
    job = tmp_path / "job.toml"
    job.write_text(
        f'name = "auto"\ninput = "{path.name}"\naction = "update"\nrate = "auto:60"\n'
        'runs_dir = "runs"\n'
    )
    first = CliRunner().invoke(main, ["run", "--job", str(job), "--quiet"], env=cli_env(sandbox))
    assert first.exit_code == 0, first.output
    assert "rate found" in first.output
    run_dir = next((tmp_path / "runs").glob("*-auto"))
    summary = json.loads((run_dir / "summary.json").read_text())
    found = summary["rate"]["found_per_s"]
    assert summary["rate"]["auto"] is True
    assert 12 <= found <= 20  # just below the server's 20/s
    stats = state_of(sandbox).stats
    assert stats.rate_limited <= 0.05 * stats.requests
    assert most_in_any_window(stats.arrivals, 1.0) <= 60
    memory = json.loads((tmp_path / "runs" / "auto.rate.json").read_text())
    assert memory["found_per_s"] == found
    assert (tmp_path / "runs" / "auto.rate.json").stat().st_mode & 0o077 == 0

    second = CliRunner().invoke(
        main, ["run", "--job", str(job), "--quiet", "--out", str(tmp_path / "again")],
        env=cli_env(sandbox),
    )  # fmt: skip
    assert second.exit_code == 0, second.output
    with sqlite3.connect(tmp_path / "again" / "journal.sqlite") as db:
        manifest = json.loads(db.execute("SELECT body FROM manifest").fetchone()[0])
    assert manifest["options"]["api"]["rate_start_per_s"] == found
