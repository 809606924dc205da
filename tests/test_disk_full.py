"""A journal that cannot be written (disk full) stops the run before another request goes
out: one clear line, exit 3, no traceback, resumable once there is space (docs/durability.md)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.run.journal import Journal
from pipeline.sandbox import SandboxThread
from tests.conftest import comment_file, state_of
from tests.test_cli import cli_env

MUTATIONS = ("patch", "address", "cancel")
PAGES = 12  # room for some requests, not for 60 rows


def full_disk_after(pages: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Journals created from now on can grow by `pages` SQLite pages, then the 'disk' is full
    (SQLite's max_page_count gives the same SQLITE_FULL error as a full disk)."""
    create = Journal.create.__func__  # type: ignore[attr-defined]

    def limited(cls: type[Journal], path: Path, manifest: dict[str, Any]) -> Journal:
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
    assert sent <= journaled[0] + 4 * 2  # nothing much beyond what the journal holds

    monkeypatch.undo()  # space again
    resumed = CliRunner().invoke(main, ["resume", str(out), "--quiet"], env=cli_env(sandbox))
    assert resumed.exit_code == 0, resumed.output
    results = pl.read_parquet(out / "results.parquet")
    assert results.height == len(ids)
    assert set(results["outcome"]) == {"applied"}
