"""The nightly sweep: a job whose input is a glob processes each matching file once (SPEC §8).

A state database beside the runs records each file (path and sha256) with its
run and status. Running the same job again sends nothing for files already
done, resumes a file whose run was interrupted, and takes new files. An
exclusive lock keeps two sweeps of one job from processing the same files.

The files of one sweep share one pace (`pipeline.api.pace`): one pacer and one
adaptive rate. The server sees one sender: no window of the rate's period holds
more than its count across a file boundary, and with `--rate auto` the next
file starts at the rate the previous one found.

    results = sweep_job(job, cli={}, env=Environment())
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.api.pace import Pace
from pipeline.errors import InputFileError, LimitExceeded, OptionsError, OutputError
from pipeline.jobfile import JobFile
from pipeline.run.durable import resume_run
from pipeline.run.followup import follow_up_sweep
from pipeline.run.journal import JOURNAL_NAME
from pipeline.run.prepare import display_name
from pipeline.run.progress import Progress
from pipeline.run.rundir import FILE_MODE, exclusive, make_run_dir, remove_unstarted, seal
from pipeline.run.runner import Confirm, ProgressFactory, RunResult, default_run_dir, run_files
from pipeline.settings import Environment, resolve_options

STATE_NAME = "sweep-state.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT NOT NULL, sha256 TEXT NOT NULL, run_dir TEXT NOT NULL, status TEXT NOT NULL,
    exit_code INTEGER, started_at REAL NOT NULL, finished_at REAL,
    PRIMARY KEY (path, sha256)
);
"""


@dataclass(frozen=True)
class SweepItem:
    path: Path
    # "done" (this sweep), "skipped" (done earlier), "stopped", "rejected",
    # "waiting" (still changing: taken by a later sweep)
    status: str
    result: RunResult | None
    message: str = ""
    followup: dict[str, Any] | None = None  # "followup": the follow-up's event fields

    @property
    def exit_code(self) -> int:
        if self.followup is not None:
            return int(self.followup["exitCode"])
        if self.status == "rejected":
            return 2
        return self.result.exit_code if self.result is not None else 0


def sweep_exit_code(items: list[SweepItem]) -> int:
    """3 if a run stopped early, else the worst of the files (2 rejected, 1 rows not ok)."""
    codes = [item.exit_code for item in items]
    return 3 if 3 in codes else max(codes, default=0)


def state_folder(job: JobFile) -> Path:
    return job.resolve(job.state_dir or job.runs_dir)


def sweep_lock(folder: Path, job_name: str) -> AbstractContextManager[None]:
    """Hold the job's sweep lock; a second sweep of the job is refused at once."""
    path = folder / f"{job_name}.lock"
    return exclusive(
        path,
        busy=f"another sweep of job '{job_name}' is running ({{holder}}, lock {path});"
        " this one sends nothing",
        error=OptionsError,
    )


class SweepState:
    """Which files of a sweep were processed, by which run."""

    def __init__(self, path: Path) -> None:
        try:
            path.touch(mode=FILE_MODE)  # owner-only, as the runs it names (sqlite makes 0644)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.executescript(SCHEMA)
        except sqlite3.Error as error:
            raise OutputError(f"cannot open the sweep state {path}: {error}") from None

    def find(self, path: Path, sha256: str) -> tuple[str, str] | None:
        row = self._db.execute(
            "SELECT status, run_dir FROM files WHERE path = ? AND sha256 = ?", (str(path), sha256)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def started(self, path: Path, sha256: str, run_dir: Path) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO files (path, sha256, run_dir, status, started_at)"
            " VALUES (?, ?, ?, 'running', ?)",
            (str(path), sha256, str(run_dir), time.time()),
        )

    def finished(self, path: Path, sha256: str, *, status: str, exit_code: int) -> None:
        self._db.execute(
            "UPDATE files SET status = ?, exit_code = ?, finished_at = ?"
            " WHERE path = ? AND sha256 = ?",
            (status, exit_code, time.time(), str(path), sha256),
        )

    def close(self) -> None:
        self._db.close()


def sweep_job(
    job: JobFile,
    *,
    cli: dict[str, Any],
    env: Environment,
    confirm: Confirm | None = None,
    progress_factory: ProgressFactory = Progress,
    on_item: Callable[[SweepItem], None] | None = None,
    now: Callable[[], float] = time.time,
) -> list[SweepItem]:
    """Process each file the job's glob matches that no earlier sweep completed.

    A file is taken once it is complete: unchanged for `job.settle_s` seconds (a file
    renamed into the inbox keeps its time, so it is taken at once).
    """
    options = resolve_options(cli=cli, job=job, env=env)
    pace = Pace.for_settings(options.api)  # one rate across the sweep's files
    folder = state_folder(job)
    items: list[SweepItem] = []
    with sweep_lock(folder, job.job_name):
        state = SweepState(folder / STATE_NAME)
        try:
            if job.followup:  # the cancel requests of earlier nights, before new files
                followed = follow_up_sweep(folder / STATE_NAME, options=options, env=env, pace=pace)
                if followed is not None:
                    item = SweepItem(
                        folder, "followup", None, "\n".join(followed.lines()), followed.event()
                    )
                    items.append(item)
                    if on_item is not None:
                        on_item(item)
            for path in job.input_paths():
                age_s = now() - path.stat().st_mtime
                if age_s < job.settle_s:
                    item = SweepItem(
                        path,
                        "waiting",
                        None,
                        f"changed {age_s:.0f} s ago; taken once unchanged for {job.settle_s:g} s",
                    )
                else:
                    item = _sweep_file(
                        path, job, state, cli, env, options, confirm, progress_factory, pace
                    )
                    item = _archive(item, job) if job.archive else item
                items.append(item)
                if on_item is not None:
                    on_item(item)
                if item.status == "stopped":
                    break  # the API is unusable or the sweep was interrupted: stop here
        finally:
            state.close()
    return items


def _sweep_file(
    path: Path,
    job: JobFile,
    state: SweepState,
    cli: dict[str, Any],
    env: Environment,
    options: Any,
    confirm: Confirm | None,
    progress_factory: ProgressFactory,
    pace: Pace,
) -> SweepItem:
    data = path.read_bytes()  # read once: the bytes hashed are the bytes the run reads
    digest = hashlib.sha256(data).hexdigest()
    known = state.find(path, digest)
    if known is not None and known[0] in ("done", "rejected"):
        return SweepItem(path, "skipped", None, f"already {known[0]} by {known[1]}")
    if known is not None and (Path(known[1]) / JOURNAL_NAME).exists():
        run_dir = Path(known[1])
        result = resume_run(run_dir, cli=cli, env=env, progress_factory=progress_factory, pace=pace)
    else:
        run_dir = default_run_dir(f"{job.job_name}-{path.stem}", root=job.resolve(job.runs_dir))
        make_run_dir(run_dir)
        copy = run_dir / "inputs" / path.name
        copy.parent.mkdir(mode=0o700)
        copy.write_bytes(data)
        seal(run_dir)
        state.started(path, digest, run_dir)
        try:
            result = run_files(
                [copy],
                options=options,
                env=env,
                out=run_dir,
                confirm=confirm,
                progress_factory=progress_factory,
                names=[display_name(path)],
                prepared_dir=True,
                pace=pace,
            )
        except (InputFileError, LimitExceeded) as error:  # one bad file must not stop the sweep
            remove_unstarted(run_dir)  # no run happened: name no run directory
            state.finished(path, digest, status="rejected", exit_code=2)
            return SweepItem(path, "rejected", None, str(error))
        except BaseException:
            if not (run_dir / JOURNAL_NAME).exists():
                remove_unstarted(run_dir)
            raise
    status = "stopped" if result.exit_code == 3 else "done"
    state.finished(path, digest, status=status, exit_code=result.exit_code)
    return SweepItem(path, status, result)


def _archive(item: SweepItem, job: JobFile) -> SweepItem:
    """`archive = true`: a finished file goes to `done/`, a rejected one to `rejected/` with
    a `.reason.txt` beside it (both under the inbox); a stopped file stays to be resumed."""
    folder = {"done": "done", "rejected": "rejected"}.get(item.status)
    if folder is None or not item.path.exists():
        return item
    target_dir = item.path.parent / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / item.path.name
    number = 2
    while target.exists():
        target = target_dir / f"{item.path.stem}-{number}{item.path.suffix}"
        number += 1
    item.path.rename(target)
    message = item.message.replace(str(item.path), str(target))  # name paths that exist
    if item.status == "rejected":
        reason = target.with_name(target.name + ".reason.txt")
        reason.write_text(f"{message}\n")
        message = f"{message} (moved to {target}; the reason is in {reason})"
    return replace(item, path=target, message=message)
