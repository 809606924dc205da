"""Runs that outlive their process: resume, rerun, and reports rebuilt from the journal
(docs/durability.md).

    resume_run(Path("runs/x"), env=Environment())     # finish an interrupted run
    load_results(Path("runs/x"))                               # polars DataFrame of results

`resume` (and `rerun`, in rerun.py) reuse the original run's options from its manifest (options
given now override them); credentials always come from the environment.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from pipeline.api.rate.shared import Pace
from pipeline.config.options import Options
from pipeline.config.settings import Environment, RunOptions, resolve_options
from pipeline.core.errors import RunDirError
from pipeline.core.manifest import Manifest, read_summary
from pipeline.core.outcomes import EXIT_FINISHED, ErrorCode, Outcome
from pipeline.flows.run import ProgressFactory, RunResult, execute
from pipeline.inputs.read import sha256_of
from pipeline.plan.diff import row_changes
from pipeline.plan.prepare import Prepared, prepare
from pipeline.plan.resolve import resolve_order_keys, stored_resolution
from pipeline.reports.report import RESULT_TYPES, outcome_frame, write_reports
from pipeline.reports.summary import build_summary
from pipeline.send.progress import Progress
from pipeline.store.images import StoredImages, last_read, request_costs
from pipeline.store.journal import JOURNAL_NAME, Journal
from pipeline.store.ratememo import resumed_rate
from pipeline.store.rundir import expand_run_dirs, run_lock
from pipeline.store.schema import RowResult


def load_results(
    run_dirs: Path | str | Sequence[Path | str], *, latest: bool = False
) -> pl.DataFrame:
    """The results of one run or many (paths or globs) as one frame, as the data team reads
    them: `runDir` first, then the results columns with one type each (`row`, `sourceRow`
    integers; the input's own columns text), whatever each run's inputs looked like.

    `latest=True` keeps one row per source row: a rerun's row (named by its `sourceRun`,
    `sourceFile`, `sourceRow`) replaces the row of the run it reran, so an order that
    failed one night and landed in the rerun counts once, as applied. The latest is the
    one decided last (`decidedAt`; rows of runs from before that column count by their
    run's place in time order of the run directories' names).
    """

    given = [run_dirs] if isinstance(run_dirs, Path | str) else list(run_dirs)
    frames = []
    for run_dir in expand_run_dirs(given):
        path = run_dir / "results.parquet"
        if not path.exists():
            raise RunDirError(
                f"{run_dir}: no results.parquet; is the run finished? (quivo-bulk resume)"
            )
        frame = pl.read_parquet(path)
        frames.append(
            frame.with_columns(
                *[
                    pl.col(name).cast(RESULT_TYPES[name], strict=False)
                    for name in frame.columns
                    if name in RESULT_TYPES
                ]
            ).select(pl.lit(str(run_dir)).alias("runDir"), pl.all())
        )
    if (
        not latest
        and len(frames) == 1
        and isinstance(run_dirs, Path | str)
        and not glob.has_magic(str(run_dirs))
    ):
        return frames[0].drop("runDir")  # one run: its results.parquet as written
    frame = pl.concat(frames, how="diagonal_relaxed")
    return latest_outcomes(frame) if latest else frame


def latest_outcomes(frame: pl.DataFrame) -> pl.DataFrame:
    """Each source row's latest outcome across reruns (see `load_results`), where the
    source row first appears."""
    has = set(frame.columns)
    run_name = pl.col("runDir").str.replace(r"^.*[/\\]", "")

    def origin(column: str, own: pl.Expr) -> pl.Expr:
        return pl.coalesce(pl.col(column), own) if column in has else own

    key = [
        origin("sourceRun", run_name).alias("__run"),
        origin("sourceFile", pl.col("file")).alias("__file"),
        origin("sourceRow", pl.col("row")).cast(pl.Int64).alias("__row"),
    ]
    decided = pl.col("decidedAt") if "decidedAt" in has else pl.lit(None, dtype=pl.Datetime("ms"))
    keys = ["__run", "__file", "__row"]
    ranked = (
        frame.with_row_index("__position")
        .with_columns(
            *key,
            run_name.rank("dense").alias("__run_order"),
            decided.dt.epoch("ms").fill_null(-1).alias("__decided"),
        )
        .with_columns(pl.col("__position").min().over(keys).alias("__first"))
    )
    last = ranked.sort("__decided", "__run_order", "__position").unique(
        keys, keep="last", maintain_order=True
    )
    return last.sort("__first").drop("__position", *keys, "__run_order", "__decided", "__first")


def _open(run_dir: Path) -> tuple[Journal, Manifest]:
    journal = Journal.open(run_dir / JOURNAL_NAME)
    try:
        return journal, journal.manifest
    except BaseException:
        journal.close()
        raise


def run_job_name(run_dir: Path) -> str | None:
    """The job a run belongs to (from its manifest), or None."""
    journal, manifest = _open(run_dir)
    journal.close()
    name = manifest.options.get("job_name")  # options: RunOptions.to_manifest()
    return str(name) if name else None


def prepare_again(run_dir: Path, manifest: Manifest, options: RunOptions) -> Prepared:
    """Read the run's inputs again, refusing any that changed since the run started."""
    inputs = [Path(entry.path) for entry in manifest.inputs]
    for entry, path in zip(manifest.inputs, inputs, strict=True):
        if not path.exists():
            raise RunDirError(f"{run_dir}: its input {path} is gone; the run cannot be continued")
        if sha256_of(path) != entry.sha256:
            raise RunDirError(
                f"{run_dir}: its input {entry.name} changed since the run started"
                " (sha256 differs); refusing to mix two versions: start a new run"
            )
    prepared = prepare(
        inputs,
        options=options,
        names=[e.name for e in manifest.inputs],
        resolved=stored_resolution(manifest),
    )
    if prepared.table.raw.height != manifest.row_count:
        raise RunDirError(f"{run_dir}: its inputs no longer give {manifest.row_count} rows")
    return prepared


def is_finished(journal: Journal, manifest: Manifest, run_dir: Path) -> bool:
    """A run that reached its end: every row has a final outcome, the last session was not
    stopped, and its final summary was written (a kill while writing reports is unfinished)."""
    if len(journal.finished_indexes()) < manifest.row_count or not journal.last_session_ended():
        return False
    try:
        summary = read_summary(json.loads((run_dir / "summary.json").read_text()))
    except (OSError, ValueError, RunDirError):
        return False
    return summary.exit_code in EXIT_FINISHED


def resume_run(
    run_dir: Path,
    *,
    overrides: Options | None = None,
    env: Environment,
    progress_factory: ProgressFactory = Progress,
    pace: Pace | None = None,
) -> RunResult:
    """Finish a run that stopped early (exit 3) or was killed: send the rows without a final
    outcome (not attempted, or in flight when it stopped), then write the final reports.

    A finished run is not touched: its result comes back with `finished_before=True`.
    Two resumes of one run never run at once: the second raises RunDirError.
    `pace`: a pacer and adaptive rate shared with other runs (a sweep's files).
    """
    with run_lock(run_dir):
        journal, manifest = _open(run_dir)
        try:
            if is_finished(journal, manifest, run_dir):
                journal.close()
                return _finished_result(run_dir)
            base = RunOptions.from_manifest(manifest.options)
            options = resolve_options(overrides, base=base)
            options = resumed_rate(options, journal.rates())
            prepared = prepare_again(run_dir, manifest, options)
            # Shared by the lookups and the sends: one rate, one login.
            pace = (pace or Pace.for_settings(options.api)).new_run()
            credentials = env.credentials()
            names = [e.name for e in manifest.inputs]
            prepared = resolve_order_keys(
                prepared,
                prepared.table.fields,
                replan=lambda resolved: prepare(
                    [Path(e.path) for e in manifest.inputs],
                    options=options,
                    names=names,
                    resolved=resolved,
                ),
                journal=journal,
                options=options,
                credentials=credentials,
                pace=pace,
            )
            if prepared.plan.change_count:
                credentials.check()
        except BaseException:
            journal.close()
            raise
        return execute(
            prepared,
            journal,
            run_dir=run_dir,
            options=options,
            credentials=credentials,
            progress_factory=progress_factory,
            command="resume",
            pace=pace,
        )


def _finished_result(run_dir: Path) -> RunResult:
    summary = read_summary(json.loads((run_dir / "summary.json").read_text()))
    return RunResult(
        run_dir,
        summary,
        summary.exit_code,
        load_results(run_dir),
        finished_before=True,
    )


def rebuild_reports(run_dir: Path) -> RunResult:
    """Write a run's reports again from its journal and inputs (the journal is the truth)."""
    with run_lock(run_dir):
        return _rebuild(run_dir)


def _rebuild(run_dir: Path) -> RunResult:
    journal, manifest = _open(run_dir)
    try:
        options = RunOptions.from_manifest(manifest.options)
        prepared = prepare_again(run_dir, manifest, options)
        results = list(journal.results())
        missing = _not_decided(prepared, {r.index for r in results})
        outcomes = outcome_frame(
            results + missing, row_changes(prepared.plan, StoredImages(journal))
        )
        if outcomes.height != manifest.row_count:
            raise RunDirError(
                f"{run_dir}: the journal holds {outcomes.height} rows, its inputs give"
                f" {manifest.row_count}; the reports cannot be rebuilt"
            )
        sessions = journal.sessions()
        stopped = sessions[-1]["stopped"] if sessions else None
        ended = bool(sessions) and sessions[-1]["finished_at"] is not None
        if missing or (stopped is None and not ended):
            # Killed, or stopped by a journal that could not be written: interim reports.
            why = f" ({stopped})" if stopped else ""
            stopped = (
                f"unfinished: {len(missing)} rows have no outcome yet (not_attempted here);"
                f" the run was killed or could not write its journal{why}"
                if missing
                else stopped or "unfinished: the run was killed before it ended"
            )
        summary = build_summary(
            command=sessions[-1]["command"] if sessions else "run",  # the run's, rebuilt
            run_dir=run_dir,
            options=options,
            table=prepared.table,
            outcomes=outcomes,
            stopped=stopped,
            journal=journal,
            costs=request_costs(journal, outcomes.height, profile=options.api.profile),
            origin=manifest.origin,
            unfinished=bool(stopped),
        )
        frame = write_reports(
            run_dir,
            prepared.table,
            outcomes,
            last_read(journal),
            summary=summary,
            default_address_type=options.address_type,
        )
    finally:
        journal.close()
    return RunResult(run_dir, summary, summary.exit_code, frame, prepared.table.warnings)


def _not_decided(prepared: Prepared, decided: set[int]) -> list[RowResult]:
    """The rows of an unfinished run that have no outcome in its journal: the rows settled
    before sending (invalid, duplicate) as they are, the rest `not_attempted`."""
    rows = [r for r in prepared.settled if r.index not in decided]
    rows += [
        RowResult(
            index=index,
            outcome=Outcome.NOT_ATTEMPTED,
            order_id=order_id if order_id > 0 else None,  # < 0: a key not yet resolved
            action=action,
            error_code=ErrorCode.ABORTED,
            error="no outcome yet: the run is unfinished; resume sends it",
        )
        for index, order_id, action in prepared.plan.sendable()
        if index not in decided
    ]
    return rows


def subset_inputs(
    prepared: Prepared, indexes: list[int], folder: Path
) -> tuple[list[Path], list[str]]:
    """Write the chosen rows, file by file, with their own columns and provenance."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = prepared.table.raw.with_row_index("__index").filter(pl.col("__index").is_in(indexes))
    paths, names = [], []
    for number, source in enumerate(prepared.table.files, start=1):
        rows = chosen.filter(pl.col("file") == source.name)
        if rows.height == 0:
            continue
        provenance = [
            pl.col("file").alias("sourceFile"),
            pl.col("row").cast(pl.String).alias("sourceRow"),
        ]
        if "sourceFile" in source.headers:  # a rerun of a rerun: keep the first origin
            provenance = []
        subset = rows.select(*source.headers, *provenance)
        path = folder / f"{number}-{Path(source.name).stem}.parquet"
        subset.write_parquet(path)
        paths.append(path)
        names.append(f"{path.parent.parent.name}/inputs/{path.name}")
    return paths, names
