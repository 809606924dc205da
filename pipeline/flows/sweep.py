"""The nightly sweep: a job whose input is a glob processes each matching file once.

A state database beside the runs (`pipeline.store.sweeps`) records each file (path
and sha256) with its run and status, or why it was refused. Running the same job
again sends nothing for files already done, resumes a file whose run was interrupted
(naming the run and how far it got), takes new files, and takes a refused file again
once the reason is gone. Only complete files are read (`pipeline.flows.inbox`). An
exclusive lock keeps two sweeps of one job from processing the same files.

The files of one sweep share one pace (`pipeline.api.rate.shared`): one pacer and one
adaptive rate. The server sees one sender: no window of the rate's period holds
more than its count across a file boundary, and with `--rate auto` the next
file starts at the rate the previous one found.

    results = sweep_job(job, env=Environment())
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.api.rate.shared import Pace
from pipeline.config.jobfile import JobFile
from pipeline.config.options import Options
from pipeline.config.settings import Environment, RunOptions, resolve_options
from pipeline.core.errors import InputFileError, LimitExceeded, OptionsError
from pipeline.core.outcomes import EXIT_OK, EXIT_STOPPED, EXIT_USAGE
from pipeline.flows.earlier import (
    has_journal,
    iso,
    retry_rule,
    rows_in_common,
    run_progress,
    still_refused,
)
from pipeline.flows.followup import follow_up_sweep
from pipeline.flows.inbox import (
    CHANGED_WHILE_READ,
    Complete,
    candidates,
    identity_of,
    marker_of,
    read_complete,
)
from pipeline.flows.resume import resume_run
from pipeline.flows.run import Confirm, ProgressFactory, RunResult, default_run_dir, run_files
from pipeline.plan.prepare import display_name
from pipeline.send.progress import Progress
from pipeline.store.journal import JOURNAL_NAME
from pipeline.store.ratememo import start_at_remembered
from pipeline.store.rundir import exclusive, make_run_dir, remove_unstarted, seal
from pipeline.store.sweeps import STATE_NAME, Record, SweepState, state_folder

__all__ = ["STATE_NAME", "SweepItem", "sweep_exit_code", "sweep_job", "sweep_lock"]

# An event of the sweep for the log: (name, fields), e.g. ("file_started", {"path": ...}).
OnEvent = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class SweepItem:
    path: Path
    # "done" (this sweep), "skipped" (done earlier, or still refused), "stopped",
    # "rejected" (refused now), "waiting" (not complete yet: taken by a later sweep)
    status: str
    result: RunResult | None
    message: str = ""
    sha256: str | None = None
    followup: dict[str, Any] | None = None  # "followup": the follow-up's event fields

    @property
    def exit_code(self) -> int:
        if self.followup is not None:
            return int(self.followup["exitCode"])
        if self.status == "rejected":
            return EXIT_USAGE
        return self.result.exit_code if self.result is not None else EXIT_OK


def sweep_exit_code(items: list[SweepItem]) -> int:
    """3 if a run stopped early, else the worst of the files (2 rejected, 1 rows not ok)."""
    codes = [item.exit_code for item in items]
    return EXIT_STOPPED if EXIT_STOPPED in codes else max(codes, default=EXIT_OK)


def sweep_lock(folder: Path, job_name: str) -> AbstractContextManager[None]:
    """Hold the job's sweep lock; a second sweep of the job is refused at once."""
    path = folder / f"{job_name}.lock"
    return exclusive(
        path,
        busy=f"another sweep of job '{job_name}' is running ({{holder}}, lock {path});"
        " this one sends nothing",
        error=OptionsError,
    )


def sweep_job(
    job: JobFile,
    *,
    overrides: Options | None = None,
    env: Environment,
    confirm: Confirm | None = None,
    progress_factory: ProgressFactory = Progress,
    on_item: Callable[[SweepItem], None] | None = None,
    on_event: OnEvent | None = None,
    now: Callable[[], float] = time.time,
) -> list[SweepItem]:
    """Process each complete file the job's glob matches that no earlier sweep completed.

    `on_item` is told each file's outcome, `on_event` what the log should show before
    (`file_started`: path, rows, runDir; for a resumed run what it resumes).
    """
    options = start_at_remembered(resolve_options(overrides, job=job, env=env), job)
    folder = state_folder(job)
    with sweep_lock(folder, job.job_name):
        state = SweepState(folder / STATE_NAME)
        try:
            sweep = Sweep(
                job,
                state,
                overrides=overrides,
                env=env,
                options=options,
                confirm=confirm,
                progress_factory=progress_factory,
                on_event=on_event or (lambda _name, _fields: None),
                now=now,
            )
            # Before its new files, holding the lock and the state: the cancel requests
            # of earlier nights, followed up (docs/guide/nightly.md).
            items = [sweep.follow_up()] if job.followup else []
            followed = [item for item in items if item is not None]
            for item in followed:
                if on_item is not None:
                    on_item(item)
            return followed + sweep.new_files(on_item)
        finally:
            state.close()


class Sweep:
    """One sweep of a job, holding its lock and state: what each file becomes."""

    def __init__(
        self,
        job: JobFile,
        state: SweepState,
        *,
        overrides: Options | None,
        env: Environment,
        options: RunOptions,
        confirm: Confirm | None,
        progress_factory: ProgressFactory,
        on_event: OnEvent,
        now: Callable[[], float],
    ) -> None:
        self.job, self.state = job, state
        self.overrides, self.env, self.options = overrides, env, options
        self.confirm, self.progress_factory = confirm, progress_factory
        self.event, self.now = on_event, now
        self.pace = Pace.for_settings(options.api)  # one rate across the sweep's files

    def follow_up(self) -> SweepItem | None:
        """The follow-up of the cancel requests the job's earlier runs made; None when no
        run has any to follow up."""
        followed = follow_up_sweep(
            state_folder(self.job) / STATE_NAME, options=self.options, env=self.env, pace=self.pace
        )
        if followed is None:
            return None
        message = "\n".join(followed.lines())
        folder = state_folder(self.job)
        return SweepItem(folder, "followup", None, message, followup=followed.event())

    def new_files(self, on_item: Callable[[SweepItem], None] | None) -> list[SweepItem]:
        """Each file the glob matches now, in name order; stops at a run that stopped."""
        items: list[SweepItem] = []
        for path in candidates(self.job.input_paths(), ready_marker=self.job.ready_marker):
            if not path.exists():
                continue  # gone since the listing (moved away by its writer)
            item = self.take(path)
            if self.job.archive:
                item = self.archive(item)
            items.append(item)
            if on_item is not None:
                on_item(item)
            if item.status == "stopped":
                break  # the API is unusable or the sweep was interrupted: stop here
        return items

    def take(self, path: Path) -> SweepItem:
        """Read `path` if it is complete, then run it, resume its run, or say why not."""
        job = self.job
        complete = read_complete(
            path,
            settle_s=job.settle_s,
            now=self.now,
            allow_unterminated=job.allow_unterminated_last_line,
            ready_marker=job.ready_marker,
        )
        if complete.data is None:
            return SweepItem(path, "waiting", None, complete.waiting)
        data = complete.data  # read once: the bytes hashed are the bytes the run reads
        digest = hashlib.sha256(data).hexdigest()
        known = self.state.find(path, digest)
        again = ""
        if known is not None and known.status == "done":
            done = (
                f"already done by {known.run_dir}"
                if has_journal(known)
                else f"already done on {known.when}; its run directory has been removed since"
            )
            return SweepItem(path, "skipped", None, done, digest)
        if known is not None and known.status == "rejected":
            again = self.taken_again(known)
            if not again:
                return SweepItem(path, "skipped", None, still_refused(known), digest)
        elif known is not None and has_journal(known):
            return self.resume(path, known)
        earlier = self.state.earlier_run(path, digest)
        if earlier is not None and earlier.status != "done" and has_journal(earlier):
            item = self.resume(path, earlier)  # finish what was sent of the old content first
            changed = f"{path} changed since; its new content is taken by the next sweep"
            return replace(item, message=f"{item.message}; {changed}")
        return self.run_new(path, complete, digest, again=again, earlier=earlier)

    def taken_again(self, refused: Record) -> str:
        """Why a refused file is taken again now, or "" while the reason holds."""
        if refused.archived_to is not None:
            return f"put back into the inbox after it was refused on {refused.when}"
        if refused.refusal is None:
            return f"refused on {refused.when}, before sweeps recorded why: trying again"
        if refused.refusal == "guard" and refused.limit_key and refused.limit_needs is not None:
            limit = getattr(self.options, refused.limit_key, None)
            if limit is None or limit >= refused.limit_needs:
                allows = "no limit" if limit is None else f"{refused.limit_key} = {limit}"
                return (
                    f"refused on {refused.when} for {refused.limit_needs} orders over"
                    f" {refused.limit_key}; the job now allows it ({allows})"
                )
        return ""

    def resume(self, path: Path, record: Record) -> SweepItem:
        """Finish the run a killed or stopped sweep left for this file, saying how far it got."""
        run_dir = Path(str(record.run_dir))
        done, rows = run_progress(run_dir)
        how = "was killed" if record.status == "running" else "stopped early"
        message = (
            f"resuming {run_dir}, left unfinished by a sweep that {how} (started"
            f" {record.when}): {done} of {rows} rows had an outcome"
        )
        self.event(
            "file_started",
            {
                "path": str(path),
                "rows": rows,
                "runDir": str(run_dir),
                "resumes": {
                    "runDir": str(run_dir),
                    "left": "killed" if record.status == "running" else "stopped",
                    "startedAt": iso(record.started_at),
                    "rowsDone": done,
                },
                "message": message,
            },
        )
        result = resume_run(
            run_dir,
            overrides=self.overrides,
            env=self.env,
            progress_factory=self.progress_factory,
            pace=self.pace,
        )
        status = "stopped" if result.exit_code == EXIT_STOPPED else "done"
        self.state.finished(
            Path(record.path), record.sha256, status=status, exit_code=result.exit_code, rows=rows
        )
        return SweepItem(path, status, result, message, record.sha256)

    def run_new(
        self, path: Path, complete: Complete, digest: str, *, again: str, earlier: Record | None
    ) -> SweepItem:
        """Copy the bytes read into a new run directory and run them, if the file is still
        the same (size, modification time, inode) once they are copied."""
        job = self.job
        run_dir = default_run_dir(f"{job.job_name}-{path.stem}", root=job.resolve(job.runs_dir))
        make_run_dir(run_dir)
        copy = run_dir / "inputs" / path.name
        copy.parent.mkdir(mode=0o700)
        copy.write_bytes(complete.data or b"")
        seal(run_dir)
        if identity_of(path) != complete.identity:
            remove_unstarted(run_dir)
            return SweepItem(path, "waiting", None, CHANGED_WHILE_READ, digest)
        notes = [f"taken again: {again}"] if again else []
        if earlier is not None:
            notes.append(self.changed_note(path, copy, earlier))
        self.state.started(path, digest, run_dir)

        def started(run_dir: Path, rows: int) -> None:
            fields: dict[str, Any] = {"path": str(path), "rows": rows, "runDir": str(run_dir)}
            self.event("file_started", fields | ({"message": "; ".join(notes)} if notes else {}))

        try:
            result = run_files(
                [copy],
                options=self.options,
                env=self.env,
                out=run_dir,
                confirm=self.confirm,
                progress_factory=self.progress_factory,
                names=[display_name(path)],
                prepared_dir=True,
                pace=self.pace,
                on_started=started,
            )
        except (InputFileError, LimitExceeded) as error:  # one bad file must not stop the sweep
            remove_unstarted(run_dir)  # no run happened: name no run directory
            limit = error.limit if isinstance(error, LimitExceeded) else None
            refusal = "guard" if isinstance(error, LimitExceeded) else "content"
            self.state.refused(path, digest, refusal=refusal, reason=str(error), limit=limit)
            return SweepItem(path, "rejected", None, f"{error}; {retry_rule(refusal)}", digest)
        except BaseException:
            if not (run_dir / JOURNAL_NAME).exists():
                remove_unstarted(run_dir)
            raise
        status = "stopped" if result.exit_code == EXIT_STOPPED else "done"
        rows = result.summary.rows
        self.state.finished(path, digest, status=status, exit_code=result.exit_code, rows=rows)
        return SweepItem(path, status, result, "; ".join(notes), digest)

    def changed_note(self, path: Path, copy: Path, earlier: Record) -> str:
        """Name the earlier run of this path and how many of the new rows were in it."""
        note = f"{path} was run before, on {earlier.when} by {earlier.run_dir}"
        common = rows_in_common(copy, Path(str(earlier.run_dir)) / "inputs" / path.name, self.job)
        if common is not None:
            note += f"; its content changed since: {common[0]} of its {common[1]} rows were"
            note += " in that run"
        else:
            note += "; its content changed since"
        return note

    def archive(self, item: SweepItem) -> SweepItem:
        """`archive = true`: a finished file goes to `done/`, a refused one to `rejected/`
        with a `.reason.txt` beside it (both under the inbox); a stopped file stays to be
        resumed, a waiting or skipped one stays where it is."""
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
        if self.job.ready_marker and marker_of(item.path, self.job.ready_marker).exists():
            marker = marker_of(item.path, self.job.ready_marker)
            marker.rename(marker_of(target, self.job.ready_marker))
        if item.sha256 is not None:
            self.state.archived(item.path, item.sha256, target)
        message = item.message.replace(str(item.path), str(target))  # name paths that exist
        if item.status == "rejected":
            reason = target.with_name(target.name + ".reason.txt")
            reason.write_text(f"{message}\n")
            message = f"{message} (moved to {target}; the reason is in {reason})"
        return replace(item, path=target, message=message)
