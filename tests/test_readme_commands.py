"""The examples of docs/reference/commands.md, run as printed against the sandbox.

Each command's section prints a few command lines that name files a user would have
(`fixes.xlsx`, `cancel-list.parquet`) and runs made before (`runs/fixes`,
`runs/plan-fixes`, a nightly run). The test makes those first, in a scratch folder
(the in_copy fixture), then runs the section's lines exactly as printed and checks
what the section says they do.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from pipeline.cli import main
from tests.conftest import REPO, SAMPLE_DATA
from tests.readme import blocks, section

PAGE = "docs/reference/commands.md"


def printed(command: str) -> list[str]:
    """The command lines of a command's section (`## quivo-bulk CMD`), as printed."""
    [block] = blocks(section(f"## `quivo-bulk {command}`", page=PAGE), "sh")
    return block.strip().splitlines()


def quivo(line: str) -> Result:
    words = shlex.split(line)
    assert words[0] == "quivo-bulk", line
    return CliRunner().invoke(main, words[1:])


def user_files() -> None:
    """What the examples assume the user has: a workbook of address fixes (the sample
    corrections saved from Excel), a Parquet cancel list, the repository's jobs/."""
    corrections = pl.read_csv(
        SAMPLE_DATA / "address-corrections.csv", separator=";", infer_schema=False
    )
    corrections.write_excel("fixes.xlsx")
    shutil.copy(SAMPLE_DATA / "cancellations.parquet", "cancel-list.parquet")
    shutil.copytree(REPO / "jobs", "jobs")


def made_before(*lines: str) -> None:
    for line in lines:
        assert quivo(line).exit_code in (0, 1), line


def test_run_examples(in_copy: Path) -> None:
    user_files()
    codes = [quivo(line).exit_code for line in printed("run")]
    assert codes == [1, 1, 1]  # each file has rows that need a person
    assert (in_copy / "runs" / "fixes" / "errors.xlsx").is_file()
    assert len(list((in_copy / "runs").glob("*-cancel-list"))) == 1
    assert len(list((in_copy / "runs").glob("*-address-corrections"))) == 1


def test_validate_example(in_copy: Path) -> None:
    user_files()
    [line] = printed("validate")
    assert quivo(line).exit_code == 1
    errors = pl.read_excel(in_copy / "runs" / "check" / "errors.xlsx")
    assert errors.height == 5  # only the rows that need fixing (offline: no order is read)


def test_plan_apply_and_undo_examples(in_copy: Path) -> None:
    user_files()
    [plan] = printed("plan")
    assert quivo(plan).exit_code == 1  # two rows will fail
    assert (in_copy / "runs" / "plan-fixes" / "plan.xlsx").is_file()
    [apply] = printed("apply")
    applying = quivo(apply)
    assert applying.exit_code == 0  # it sends only the rows that will change
    assert '{"event": "run_finished", "command": "run"' in applying.stderr  # a run's last line
    # Its input is named by a path that exists (it was plan-fixes/inputs/1-fixes.parquet).
    assert "warning: runs/plan-fixes/inputs/1-fixes.parquet: column(s) 'Note'" in applying.stderr
    [applied] = (in_copy / "runs").glob("*-apply-plan-fixes")  # `<UTC time>-apply-<plan>`
    assert set(pl.read_parquet(applied / "results.parquet")["outcome"]) == {"applied"}
    shutil.copytree(applied, in_copy / "runs" / "fixes")  # `undo runs/fixes`: that run
    [undo] = printed("undo")
    undoing = quivo(undo)
    assert undoing.exit_code == 0
    assert '"event": "run_finished"' in undoing.stderr
    assert (in_copy / "runs" / "fixes" / "undo" / "undo.csv").is_file()
    [undone] = (in_copy / "runs").glob("*-undo-fixes")  # `<UTC time>-undo-<run>`
    assert set(pl.read_parquet(undone / "results.parquet")["outcome"]) == {"applied"}


def test_report_examples(in_copy: Path) -> None:
    user_files()
    made_before(printed("run")[0])
    for line in printed("report"):
        result = quivo(line)
        assert result.exit_code == 1  # the run's
        assert "reports: runs/fixes" in result.output
        # The summary is the run's, also once rebuilt (it said 'report --rebuild' then,
        # and so did every later `report` and `resume` of the run).
        assert "quivo-bulk run: 16 rows" in result.output


NIGHTLY = "runs/nightly/20261124T020000Z-nightly-cancellation-sweep-inbox-a"
INBOX_FILE = "sample_data/inbox/2026-11-24-cancellations.csv"


@pytest.mark.parametrize(
    ("command", "before", "check"),
    [
        (
            "resume",
            lambda: made_before(
                f"quivo-bulk run {INBOX_FILE} --action cancel --yes --rate 100"
                " --out runs/20261124T020000Z-nightly-cancellation-sweep"
            ),
            lambda results: "is finished (exit code 1); nothing to resume" in results[0].output,
        ),
        (
            "rerun",
            lambda: made_before(
                f"quivo-bulk run {INBOX_FILE} --action cancel --yes --rate 100 --out {NIGHTLY}"
            ),
            # a status_conflict needs a person: only --include-permanent sends it, once
            lambda results: (
                [r.exit_code for r in results] == [0, 1, 0]
                and "nothing to rerun" in results[0].output
                and "nothing to rerun" in results[2].output
            ),
        ),
        (
            "followup",
            lambda: made_before(
                f"quivo-bulk run {INBOX_FILE} --action cancel --yes --rate 100"
                " --out runs/nightly/20261124T023000Z-nightly-cancellation-sweep-inbox-a"
            ),
            # the sandbox cancels after a minute: every accepted cancel is still pending
            lambda results: (
                [r.exit_code for r in results] == [0]
                and " 0 shipped, " in results[0].output
                and '"event": "followup"' in results[0].output
                and Path(
                    "runs/nightly/20261124T023000Z-nightly-cancellation-sweep-inbox-a/followup.csv"
                ).is_file()
            ),
        ),
    ],
)
def test_resume_and_rerun_examples(
    in_copy: Path,
    command: str,
    before: Callable[[], None],
    check: Callable[[list[Result]], bool],
) -> None:
    before()
    results = [quivo(line) for line in printed(command)]
    assert check(results), [r.output for r in results]


def test_demo_example(in_copy: Path) -> None:
    """`quivo-bulk demo --out runs/demo` as printed, over a previous demo's folder (a
    second `make demo`): it replaces that folder and writes every run again."""
    old = in_copy / "runs" / "demo" / "1-plan"
    old.mkdir(parents=True)
    (old / "stale.txt").write_text("from an earlier demo")
    [line] = printed("demo")
    result = quivo(line)
    assert result.exit_code == 0, result.output
    demo = in_copy / "runs" / "demo"
    assert not (old / "stale.txt").exists()
    assert (old / "plan.xlsx").is_file()
    for name in ("1-address-corrections", "2-mixed-changes", "3-cancellations", "4-shop-orders"):
        assert (demo / name / "results.csv").is_file()
    assert len(list(demo.glob("*-undo-1-address-corrections"))) == 1
