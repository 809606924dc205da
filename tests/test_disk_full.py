"""A journal that cannot be written (disk full) stops the run before another request goes
out: one clear line, exit 3, no traceback, resumable once there is space (docs/durability.md)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.core.manifest import Manifest
from pipeline.sandbox import SandboxThread
from pipeline.store.journal import Journal
from tests.conftest import comment_file, state_of
from tests.test_cli import cli_env

MUTATIONS = ("patch", "address", "cancel")
PAGES = 12  # room for some requests, not for 60 rows


def full_disk_after(pages: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Journals created from now on can grow by `pages` SQLite pages, then the 'disk' is full
    (SQLite's max_page_count gives the same SQLITE_FULL error as a full disk)."""
    create = Journal.create.__func__  # type: ignore[attr-defined]

    def limited(cls: type[Journal], path: Path, manifest: Manifest) -> Journal:
        journal: Journal = create(cls, path, manifest)
        used = journal._db.execute("PRAGMA page_count").fetchone()[0]
        journal._db.execute(f"PRAGMA max_page_count = {used + pages}")
        return journal

    monkeypatch.setattr(Journal, "create", classmethod(limited))


def test_a_full_disk_stops_the_run_and_resume_finishes_it(
    sandbox: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ids = comment_file(sandbox, tmp_path, 60, "disk full")
    out = tmp_path / "run"
    full_disk_after(PAGES, monkeypatch)
    stopped = CliRunner().invoke(
        main,
        ["run", str(path), "--action", "update", "--out", str(out), "--rate", "300",
         "--concurrency", "4", "--quiet"],
        env=cli_env(sandbox),
    )  # fmt: skip
    assert stopped.exit_code == 3, stopped.output
    assert "Traceback" not in stopped.output
    assert "cannot write the journal" in stopped.output.splitlines()[-1]
    print(f"\ndisk full: {stopped.output.count(chr(10))} output lines")
    assert f"quivo-bulk resume {out}" in stopped.output
    sent = sum(
        sum(kinds.get(kind, 0) for kind in MUTATIONS)
        for kinds in state_of(sandbox).stats.by_order.values()
    )
    with sqlite3.connect(out / "journal.sqlite") as db:
        journaled = db.execute("SELECT COUNT(*) FROM requests WHERE row_idx IS NOT NULL").fetchone()
    print(f"disk full: {sent} mutations sent, {journaled[0]} requests journaled")
    assert 0 < sent < len(ids)  # it sent, then stopped sending
    assert sent <= journaled[0]  # every change that went out is in the journal

    monkeypatch.undo()  # space again
    resumed = CliRunner().invoke(main, ["resume", str(out), "--quiet"], env=cli_env(sandbox))
    assert resumed.exit_code == 0, resumed.output
    results = pl.read_parquet(out / "results.parquet")
    assert results.height == len(ids)
    # Every change that went out was committed to the journal first, so the resume
    # knows it was this run's: `applied`, never `unchanged`.
    assert set(results["outcome"]) == {"applied"}


def test_a_full_disk_prints_one_clear_line_and_no_traceback(
    sandbox: SandboxThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No "Future exception was never retrieved" (asyncio's log of a failed commit nobody
    waited for, with its traceback) before or after the one line."""
    import gc

    path, _ = comment_file(sandbox, tmp_path, 60, "disk full")
    full_disk_after(PAGES, monkeypatch)
    with caplog.at_level("ERROR", logger="asyncio"):
        stopped = CliRunner().invoke(
            main,
            ["run", str(path), "--action", "update", "--out", str(tmp_path / "run"),
             "--rate", "300", "--concurrency", "4", "--quiet"],
            env=cli_env(sandbox),
        )  # fmt: skip
        gc.collect()  # a future's unretrieved exception is logged when it is collected
    assert stopped.exit_code == 3, stopped.output
    assert "never retrieved" not in caplog.text
    assert "Traceback" not in caplog.text + stopped.output
    assert [line for line in stopped.output.splitlines() if "cannot write the journal" in line]


def test_report_rebuild_of_a_run_a_full_disk_stopped_writes_interim_reports(
    sandbox: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows without an outcome are `not_attempted`, the summary says unfinished, and the
    next step is still `resume` (it refused: "N rows have no outcome yet")."""
    path, ids = comment_file(sandbox, tmp_path, 60, "disk full")
    out = tmp_path / "run"
    full_disk_after(PAGES, monkeypatch)
    args = ["run", str(path), "--action", "update", "--out", str(out), "--rate", "300", "--quiet"]
    stopped = CliRunner().invoke(main, args, env=cli_env(sandbox))
    assert stopped.exit_code == 3, stopped.output
    with sqlite3.connect(out / "journal.sqlite") as db:
        decided = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert decided < len(ids)  # the disk filled before every row had its outcome
    (out / "results.parquet").unlink(missing_ok=True)

    rebuilt = CliRunner().invoke(main, ["report", str(out), "--rebuild"])
    assert rebuilt.exit_code == 3, rebuilt.output
    assert "Traceback" not in rebuilt.output
    assert f"quivo-bulk resume {out}" in rebuilt.output
    results = pl.read_parquet(out / "results.parquet")
    assert results.height == len(ids)  # every input row once
    assert results["row"].to_list() == list(range(2, len(ids) + 2))
    no_outcome = results.filter(pl.col("errorCode") == "aborted")
    assert no_outcome.height >= len(ids) - decided
    # Rows decided before the disk filled keep their outcome: a change sent whose refetch
    # the stop cut short is `unverified` (aborted), honestly; the rest are not_attempted.
    assert set(no_outcome["outcome"]) <= {"not_attempted", "failed", "unverified"}
    assert (results["outcome"] == "not_attempted").sum() >= len(ids) - decided
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"].startswith(f"unfinished: {len(ids) - decided} rows have no outcome")
    assert summary["unfinished"] is True
    assert summary["exit_code"] == 3
    assert (out / "errors.csv").exists()

    monkeypatch.undo()  # space again: resume finishes it
    resumed = CliRunner().invoke(main, ["resume", str(out), "--quiet"], env=cli_env(sandbox))
    assert resumed.exit_code == 0, resumed.output
    assert set(pl.read_parquet(out / "results.parquet")["outcome"]) == {"applied"}
