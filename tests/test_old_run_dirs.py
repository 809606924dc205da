"""Run directories made by an earlier quivo-bulk still work with this one.

tests/data/runs-1b30256/ was made by commit 1b30256 (its make.sh, against that
commit's sandbox with the sample orders): a finished address run with
before-images, the plan of the same file, and an update run killed with kill -9
after 22 requests, before any row had its outcome. Each is copied before use,
and its inputs are put where that run read them, as on the machine that made it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.core.manifest import Manifest
from pipeline.sandbox import SandboxThread
from pipeline.store.journal import JOURNAL_NAME, Journal
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "data" / "runs-1b30256"
MADE_IN = Path("/tmp/quivo-bulk-fixture-1b30256")  # the folder its runs read their inputs from


@pytest.fixture
def old_runs(tmp_path: Path, in_copy: Path) -> Path:
    MADE_IN.mkdir(parents=True, exist_ok=True)
    for name in ("address-corrections.csv", "comments.csv"):
        shutil.copyfile(FIXTURES / name, MADE_IN / name)
    runs = in_copy / "runs"
    for name in ("run-address", "run-killed", "plan-address"):
        shutil.copytree(FIXTURES / name, runs / name)
        for path in [runs / name, *(runs / name).iterdir()]:
            path.chmod(0o700 if path.is_dir() else 0o600)
    return runs


def read_manifest_of(run_dir: Path) -> Manifest:
    journal = Journal.open(run_dir / JOURNAL_NAME)
    try:
        return journal.manifest
    finally:
        journal.close()


def origin_of(run_dir: Path) -> tuple[str, str]:
    """Where a run came from, as its manifest and its summary.json both say it."""
    origin = read_manifest_of(run_dir).origin.entries()
    summary = json.loads((run_dir / "summary.json").read_text())
    [(key, value)] = origin.items()
    assert summary[key] == value
    return key, value


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_an_old_finished_run_reports_and_is_not_resumed(old_runs: Path) -> None:
    code, output = cli("report", str(old_runs / "run-address"))
    assert code == 1, output  # 7 invalid and 2 failed rows, as when it ran
    assert "applied" in output
    code, output = cli("resume", str(old_runs / "run-address"))
    assert code == 1, output  # the run's own exit code
    assert "nothing to resume, nothing was sent" in output


def test_an_old_killed_run_resumes_to_its_end(old_runs: Path, sandbox: SandboxThread) -> None:
    run = old_runs / "run-killed"
    code, output = cli("resume", str(run), "--base-url", sandbox.base_url, "--rate", "200")
    assert code == 0, output
    results = pl.read_parquet(run / "results.parquet")
    assert results.height == 30
    assert results["outcome"].unique().to_list() == ["applied"]


def test_an_old_run_is_undone_and_its_plan_applied(old_runs: Path, sandbox: SandboxThread) -> None:
    code, output = cli("undo", str(old_runs / "run-address"))
    assert code == 0, output
    undo = pl.read_csv(old_runs / "run-address" / "undo" / "undo.csv", infer_schema=False)
    assert undo.height == 6  # one row per applied address row
    # The sandbox holds the sample orders as they were before that run: the values the
    # run set are not there, so undoing them would overwrite someone else's: stale.
    code, output = cli(
        "undo", str(old_runs / "run-address"), "--apply", "--yes",
        "--base-url", sandbox.base_url,
    )  # fmt: skip
    [undo_run] = old_runs.glob("*-undo-run-address")
    results = pl.read_parquet(undo_run / "results.parquet")
    assert set(results["outcome"]) == {"stale"}, output
    assert origin_of(undo_run) == ("undoes", str(old_runs / "run-address"))
    # The plan read the orders as the sandbox has them now: it applies, but for the row
    # that moves an order to IE and keeps its AU zip: today's address rows keep what they
    # do not name, and that zip is no IE postal code (nothing sent for it).
    code, output = cli(
        "apply", str(old_runs / "plan-address"), "--yes", "--max-age", "100000h",
        "--base-url", sandbox.base_url, "--out", str(old_runs / "apply-run"),
    )  # fmt: skip
    results = pl.read_parquet(old_runs / "apply-run" / "results.parquet")
    assert results["outcome"].value_counts().sort("outcome").rows() == [
        ("applied", 5),
        ("failed", 1),
    ], output
    assert results.filter(pl.col("outcome") == "failed")["errorCode"].to_list() == ["invalid_zip"]
    assert origin_of(old_runs / "apply-run") == ("applies", str(old_runs / "plan-address"))
    # The plan's preconditions (version 1: keys as text) became the apply's, typed.
    assert sorted(read_manifest_of(old_runs / "apply-run").preconditions)[:2] == [4100001, 4100002]


def test_an_old_run_is_rerun(old_runs: Path, sandbox: SandboxThread) -> None:
    # Its two failures are permanent (status_conflict, order_not_found): a person's.
    code, output = cli("rerun", str(old_runs / "run-address"), "--base-url", sandbox.base_url)
    assert code == 0, output
    assert "nothing to rerun" in output.lower()
    code, output = cli(
        "rerun", str(old_runs / "run-address"), "--include-permanent",
        "--base-url", sandbox.base_url, "--out", str(old_runs / "rerun"),
    )  # fmt: skip
    results = pl.read_parquet(old_runs / "rerun" / "results.parquet")
    assert results.height == 2, output
