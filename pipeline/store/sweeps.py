"""The sweep state (`sweep-state.sqlite` beside the runs): what each inbox file became.

One record per file content (path and sha256): its status (`running`, `stopped`,
`done`, `rejected`), its run directory (none for a refused file), its row count, and
for a refused file why (`refusal`: `guard` or `content`, the message, and for a guard
the limit and the orders it needs), so a later sweep knows when to take it again.

    state = SweepState(folder / STATE_NAME)
    load_sweeps("jobs/nightly-cancellation-sweep.toml")  # the records as a polars frame
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.config.jobfile import JobFile
from pipeline.core.errors import OutputError, RunDirError
from pipeline.store.rundir import FILE_MODE

STATE_NAME = "sweep-state.sqlite"
COLUMNS = (
    "path, sha256, run_dir, status, exit_code, started_at, finished_at,"
    " rows, refusal, reason, limit_key, limit_needs, archived_to"
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT NOT NULL, sha256 TEXT NOT NULL, run_dir TEXT, status TEXT NOT NULL,
    exit_code INTEGER, started_at REAL NOT NULL, finished_at REAL,
    rows INTEGER, refusal TEXT, reason TEXT, limit_key TEXT, limit_needs INTEGER,
    archived_to TEXT,
    PRIMARY KEY (path, sha256)
);
"""
# A state written before refusals were recorded: every refused file named a run directory
# that was never kept; it gets none, and no reason (so the next sweep tries it again).
MIGRATE = f"""
ALTER TABLE files RENAME TO files_before;
{SCHEMA}
INSERT INTO files (path, sha256, run_dir, status, exit_code, started_at, finished_at)
    SELECT path, sha256, CASE status WHEN 'rejected' THEN NULL ELSE run_dir END, status,
           exit_code, started_at, finished_at FROM files_before;
DROP TABLE files_before;
"""


@dataclass(frozen=True)
class Record:
    """One file content's state."""

    path: str
    sha256: str
    run_dir: str | None
    status: str
    exit_code: int | None
    started_at: float
    finished_at: float | None
    rows: int | None
    refusal: str | None  # "guard" or "content"
    reason: str | None
    limit_key: str | None  # "max_cancels" or "max_changes"
    limit_needs: int | None  # the orders the file would cancel / change
    archived_to: str | None

    @property
    def when(self) -> str:
        return utc_text(self.started_at)


def utc_text(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")


class SweepState:
    """Which files of a sweep were processed, by which run, or why they were refused."""

    def __init__(self, path: Path) -> None:
        try:
            path.touch(mode=FILE_MODE)  # owner-only, as the runs it names (sqlite makes 0644)
            self._db = sqlite3.connect(path, isolation_level=None)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(files)")}
            if columns and "refusal" not in columns:
                self._db.executescript(f"BEGIN; {MIGRATE} COMMIT;")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as error:
            raise OutputError(f"cannot open the sweep state {path}: {error}") from None

    def _records(self, where: str, args: tuple[Any, ...]) -> list[Record]:
        query = f"SELECT {COLUMNS} FROM files WHERE {where} ORDER BY started_at DESC"
        return [Record(*row) for row in self._db.execute(query, args)]

    def find(self, path: Path, sha256: str) -> Record | None:
        found = self._records("path = ? AND sha256 = ?", (str(path), sha256))
        return found[0] if found else None

    def earlier_run(self, path: Path, sha256: str) -> Record | None:
        """The newest record of the same path with other content that has a run."""
        found = self._records(
            "path = ? AND sha256 != ? AND run_dir IS NOT NULL", (str(path), sha256)
        )
        return found[0] if found else None

    def started(self, path: Path, sha256: str, run_dir: Path) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO files (path, sha256, run_dir, status, started_at)"
            " VALUES (?, ?, ?, 'running', ?)",
            (str(path), sha256, str(run_dir), time.time()),
        )

    def finished(
        self, path: Path, sha256: str, *, status: str, exit_code: int, rows: int | None = None
    ) -> None:
        self._db.execute(
            "UPDATE files SET status = ?, exit_code = ?, finished_at = ?,"
            " rows = COALESCE(?, rows) WHERE path = ? AND sha256 = ?",
            (status, exit_code, time.time(), rows, str(path), sha256),
        )

    def refused(
        self,
        path: Path,
        sha256: str,
        *,
        refusal: str,
        reason: str,
        limit: tuple[str, int] | None = None,
    ) -> None:
        now = time.time()
        self._db.execute(
            f"INSERT OR REPLACE INTO files ({COLUMNS})"
            " VALUES (?, ?, NULL, 'rejected', 2, ?, ?, NULL, ?, ?, ?, ?, NULL)",
            (str(path), sha256, now, now, refusal, reason, *(limit or (None, None))),
        )

    def archived(self, path: Path, sha256: str, target: Path) -> None:
        self._db.execute(
            "UPDATE files SET archived_to = ? WHERE path = ? AND sha256 = ?",
            (str(target), str(path), sha256),
        )

    def close(self) -> None:
        self._db.close()


SWEEP_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "path": pl.String,
    "sha256": pl.String,
    "status": pl.String,
    "runDir": pl.String,
    "rows": pl.Int64,
    "exitCode": pl.Int64,
    "startedAt": pl.Datetime("us", "UTC"),
    "finishedAt": pl.Datetime("us", "UTC"),
    "refusal": pl.String,
    "reason": pl.String,
    "limitKey": pl.String,
    "limitNeeds": pl.Int64,
    "archivedTo": pl.String,
}


def _moment(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def records_frame(records: list[Record]) -> pl.DataFrame:
    """The records as a frame, oldest first, with the column names of the reports."""
    rows = [
        {
            "path": r.path,
            "sha256": r.sha256,
            "status": r.status,
            "runDir": r.run_dir,
            "rows": r.rows,
            "exitCode": r.exit_code,
            "startedAt": _moment(r.started_at),
            "finishedAt": _moment(r.finished_at),
            "refusal": r.refusal,
            "reason": r.reason,
            "limitKey": r.limit_key,
            "limitNeeds": r.limit_needs,
            "archivedTo": r.archived_to,
        }
        for r in reversed(records)
    ]
    return pl.DataFrame(rows, schema=SWEEP_SCHEMA)


def load_sweeps(where: Path | str) -> pl.DataFrame:
    """Every file a sweep met, as a polars frame: one row per file content (path, sha256)
    with its latest `status` (`done`, `stopped`, `running`: killed, `rejected`), `runDir`
    (null for a refused file: it never got one), `rows`, `exitCode`, `startedAt`,
    `finishedAt` (UTC), and for a refused file `refusal` (`guard` / `content`), `reason`,
    `limitKey`, `limitNeeds`.

    `where`: a job file (`.toml`), the folder holding `sweep-state.sqlite`, or that file.

        sweeps = load_sweeps("jobs/nightly-cancellation-sweep.toml")
        sweeps.filter(pl.col("runDir").is_null())  # files refused, never run
    """
    path = Path(where)
    if path.suffix == ".toml":
        from pipeline.config.jobfile import load_job

        path = state_folder(load_job(path)) / STATE_NAME
    elif path.is_dir():
        path = path / STATE_NAME
    if not path.is_file():
        raise RunDirError(f"{path}: no sweep state; has the job swept yet?")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            columns = {row[1] for row in connection.execute("PRAGMA table_info(files)")}
            if "refusal" in columns:
                query = f"SELECT {COLUMNS} FROM files ORDER BY started_at DESC"
                records = [Record(*row) for row in connection.execute(query)]
            else:  # a state no sweep has opened since refusals were recorded
                query = (
                    "SELECT path, sha256, CASE status WHEN 'rejected' THEN NULL ELSE run_dir END,"
                    " status, exit_code, started_at, finished_at FROM files"
                    " ORDER BY started_at DESC"
                )
                records = [Record(*row, *([None] * 6)) for row in connection.execute(query)]
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise RunDirError(f"{path}: the sweep state cannot be read ({error})") from None
    return records_frame(records)


def state_folder(job: JobFile) -> Path:
    return job.resolve(job.state_dir or job.runs_dir)
