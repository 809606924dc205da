"""Runs that outlive their process: resume, rerun, and reports rebuilt from the journal (SPEC §8).

    resume_run(Path("runs/x"), cli={}, env=Environment())     # finish an interrupted run
    rerun_run(Path("runs/x"), cli={}, env=Environment())      # resend what did not land
    load_results(Path("runs/x"))                               # polars DataFrame of results

`resume` and `rerun` reuse the original run's options from its manifest (options
given now override them); credentials always come from the environment.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import RunDirError
from pipeline.inputs.read import sha256_of
from pipeline.outcomes import RERUNNABLE
from pipeline.reports.report import outcome_frame, write_reports
from pipeline.reports.summary import build_summary
from pipeline.run.journal import JOURNAL_NAME, Journal
from pipeline.run.progress import Progress
from pipeline.run.resolve import resolve_order_keys, stored_resolution
from pipeline.run.runner import (
    Prepared,
    ProgressFactory,
    RunResult,
    default_run_dir,
    execute,
    prepare,
    run_files,
)
from pipeline.run.snapshot import StoredImages, last_read, request_costs, row_changes
from pipeline.settings import Environment, RunOptions, resolve_options


def load_results(run_dir: Path) -> pl.DataFrame:
    """The results of a finished run, as the data team reads them."""
    path = run_dir / "results.parquet"
    if not path.exists():
        raise RunDirError(
            f"{run_dir}: no results.parquet; is the run finished? (quivo-bulk resume)"
        )
    return pl.read_parquet(path)


def _open(run_dir: Path) -> tuple[Journal, dict[str, Any]]:
    journal = Journal.open(run_dir / JOURNAL_NAME)
    try:
        return journal, journal.manifest
    except BaseException:
        journal.close()
        raise


def prepare_again(run_dir: Path, manifest: dict[str, Any], options: RunOptions) -> Prepared:
    """Read the run's inputs again, refusing any that changed since the run started."""
    inputs = [Path(entry["path"]) for entry in manifest["inputs"]]
    for entry, path in zip(manifest["inputs"], inputs, strict=True):
        if not path.exists():
            raise RunDirError(f"{run_dir}: its input {path} is gone; the run cannot be continued")
        if sha256_of(path) != entry["sha256"]:
            raise RunDirError(
                f"{run_dir}: its input {entry['name']} changed since the run started"
                " (sha256 differs); refusing to mix two versions: start a new run"
            )
    prepared = prepare(
        inputs,
        options=options,
        names=[e["name"] for e in manifest["inputs"]],
        resolved=stored_resolution(manifest),
    )
    if prepared.table.raw.height != manifest["row_count"]:
        raise RunDirError(f"{run_dir}: its inputs no longer give {manifest['row_count']} rows")
    return prepared


def resume_run(
    run_dir: Path,
    *,
    cli: dict[str, Any],
    env: Environment,
    progress_factory: ProgressFactory = Progress,
) -> RunResult:
    """Finish an interrupted run: send only what has no outcome, then write every report."""
    journal, manifest = _open(run_dir)
    try:
        base = RunOptions.from_manifest(manifest["options"])
        options = resolve_options(cli=cli, job=None, env=None, base=base)
        prepared = prepare_again(run_dir, manifest, options)
        credentials = env.credentials()
        names = [e["name"] for e in manifest["inputs"]]
        prepared = resolve_order_keys(
            prepared,
            prepared.table.fields,
            replan=lambda resolved: prepare(
                [Path(e["path"]) for e in manifest["inputs"]],
                options=options,
                names=names,
                resolved=resolved,
            ),
            journal=journal,
            options=options,
            credentials=credentials,
        )
        if prepared.plan.change_count:
            credentials.check()
    except BaseException:
        journal.close()
        raise
    extra = {k: manifest[k] for k in ("reruns",) if k in manifest}
    return execute(
        prepared,
        journal,
        run_dir=run_dir,
        options=options,
        credentials=credentials,
        progress_factory=progress_factory,
        command="resume",
        extra=extra,
    )


def rebuild_reports(run_dir: Path) -> RunResult:
    """Write a run's reports again from its journal and inputs (the journal is the truth)."""
    journal, manifest = _open(run_dir)
    try:
        options = RunOptions.from_manifest(manifest["options"])
        prepared = prepare_again(run_dir, manifest, options)
        outcomes = outcome_frame(
            list(journal.results()), row_changes(prepared.plan, StoredImages(journal))
        )
        if outcomes.height != manifest["row_count"]:
            missing = manifest["row_count"] - outcomes.height
            raise RunDirError(
                f"{run_dir}: {missing} rows have no outcome yet; finish the run with"
                f" 'quivo-bulk resume {run_dir}'"
            )
        sessions = journal.sessions()
        stopped = sessions[-1]["stopped"] if sessions else None
        summary = build_summary(
            command="report --rebuild",
            run_dir=run_dir,
            options=options,
            table=prepared.table,
            outcomes=outcomes,
            stopped=stopped,
            journal=journal,
            extra={
                **request_costs(journal, outcomes.height, profile=options.api.profile),
                **{k: manifest[k] for k in ("reruns",) if k in manifest},
            },
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
    return RunResult(run_dir, summary, summary["exit_code"], frame, prepared.table.warnings)


def rerun_run(
    run_dir: Path,
    *,
    cli: dict[str, Any],
    env: Environment,
    out: Path | None = None,
    progress_factory: ProgressFactory = Progress,
) -> RunResult:
    """A new run of the rows of `run_dir` that failed, were unverified or not attempted.

    Invalid rows are left out: they need fixing first (errors.csv). The rows go
    into Parquet files in the new run's `inputs/` folder, one per original input,
    with their own columns, so the original column mapping still applies.
    """
    journal, manifest = _open(run_dir)
    try:
        unfinished = manifest["row_count"] - len(journal.finished_indexes())
        if unfinished:
            raise RunDirError(
                f"{run_dir}: the run is unfinished ({unfinished} rows without an outcome);"
                f" finish it first with 'quivo-bulk resume {run_dir}'"
            )
        base = RunOptions.from_manifest(manifest["options"])
        options = resolve_options(cli=cli, job=None, env=None, base=base)
        prepared = prepare_again(run_dir, manifest, options)
        again = {r.index for r in journal.results() if r.outcome in RERUNNABLE}
    finally:
        journal.close()
    name = f"rerun-{run_dir.name}"
    target = out or default_run_dir(name, root=run_dir.parent)
    extra = {"reruns": str(run_dir)}
    if not again:
        return _nothing_to_rerun(target, run_dir, options)
    inputs, names = subset_inputs(prepared, sorted(again), target / "inputs")
    return run_files(
        inputs,
        options=options,
        env=env,
        out=target,
        progress_factory=progress_factory,
        names=names,
        extra=extra,
    )


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


def _nothing_to_rerun(target: Path, source: Path, options: RunOptions) -> RunResult:
    target.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "command": "rerun",
        "run_dir": str(target),
        "reruns": str(source),
        "job": options.job_name,
        "base_url": options.api.base_url,
        "dry_run": options.dry_run,
        "rows": 0,
        "outcomes": {},
        "error_codes": {},
        "requests": 0,
        "retries": 0,
        "rate_limited": 0,
        "logins": 0,
        "wall_time_s": 0.0,
        "achieved_requests_per_s": 0.0,
        "inputs": [],
        "warnings": [],
        "stopped": None,
        "exit_code": 0,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "note": "nothing to rerun: no row failed, was unverified or was not attempted",
    }
    (target / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return RunResult(target, summary, 0, pl.DataFrame())
