"""`rerun`: a new run of the rows of finished runs that did not land (docs/reference/commands.md).

    rerun_runs([Path("runs/nightly/a"), Path("runs/nightly/b")], env=Environment())
    rerun_runs(["runs/nightly/*-sweep-*"], env=Environment())   # a glob

Sent again: `failed` with a transient cause, `unverified`, `not_attempted`. Permanent
failures need a person (`include_permanent=True` sends them too); `invalid` rows
never (fix them in errors.csv). Each source run records the rerun that took it
(`rerun-by.json`), and a run already rerun is left out unless `again=True`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipeline.config.options import Options
from pipeline.config.settings import Environment, RunOptions, resolve_options
from pipeline.core.errors import RunDirError
from pipeline.core.manifest import Origin, RunSummary
from pipeline.core.outcomes import EXIT_OK, TRANSIENT_ERROR_CODES, ErrorCode, Outcome
from pipeline.flows.resume import _open, is_finished, prepare_again
from pipeline.flows.run import (
    ProgressFactory,
    RunResult,
    ready_credentials,
    start_run,
)
from pipeline.plan.guards import check_limits
from pipeline.plan.prepare import Prepared, display_name, prepare
from pipeline.send.progress import Progress
from pipeline.store.ratememo import remember_rerun_rate, rerun_rate
from pipeline.store.rundir import (
    check_fresh,
    expand_run_dirs,
    make_run_dir,
    remove_unstarted,
    run_lock,
    seal,
)

log = logging.getLogger(__name__)

RERUN_MARK = "rerun-by.json"
NOTHING_TO_RERUN = "nothing_to_rerun"  # marks the log record of a rerun with nothing to send


@dataclass(frozen=True)
class Source:
    """One run to rerun: its rows to send again, read from its journal and inputs."""

    run_dir: Path
    options: RunOptions
    prepared: Prepared
    indexes: list[int]


def wanted(outcome: Outcome, code: ErrorCode | None, *, include_permanent: bool) -> bool:
    """Does a row with this outcome go into the rerun?"""
    if outcome in (Outcome.UNVERIFIED, Outcome.NOT_ATTEMPTED):
        return True
    if outcome is Outcome.FAILED:
        return include_permanent or code is None or code in TRANSIENT_ERROR_CODES
    return False


def reruns_of(run_dir: Path) -> list[str]:
    """The reruns that already took `run_dir`."""
    try:
        taken = json.loads((run_dir / RERUN_MARK).read_text())
    except (OSError, ValueError):
        return []
    return [str(entry["run_dir"]) for entry in taken if isinstance(entry, dict)]


def _mark(run_dir: Path, rerun_dir: Path) -> None:
    entries = [{"run_dir": r} for r in reruns_of(run_dir)]
    entries.append({"run_dir": str(rerun_dir), "at": datetime.now(UTC).isoformat()})
    (run_dir / RERUN_MARK).write_text(json.dumps(entries, indent=2) + "\n")
    seal(run_dir)


def _source(
    run_dir: Path, *, overrides: Options | None, include_permanent: bool, again: bool
) -> Source | str:
    """The run's rows to rerun, or why it is left out."""
    if not again and (taken := reruns_of(run_dir)):
        return f"{run_dir} was already rerun by {taken[-1]}; pass --again to rerun it again"
    journal, manifest = _open(run_dir)
    try:
        if not is_finished(journal, manifest, run_dir):
            return (
                f"{run_dir}: the run is unfinished (it stopped early or was killed);"
                f" finish it first with 'quivo-bulk resume {run_dir}'"
            )
        base = RunOptions.from_manifest(manifest.options)
        options = resolve_options(overrides, base=base)
        options = rerun_rate(options, run_dir=run_dir, found=journal.rates())
        indexes = [
            r.index
            for r in journal.results()
            if wanted(r.outcome, r.error_code, include_permanent=include_permanent)
        ]
        prepared = prepare_again(run_dir, manifest, options) if indexes else None
    finally:
        journal.close()
    if prepared is None:
        return ""
    return Source(run_dir, options, prepared, indexes)


def rerun_runs(
    run_dirs: Sequence[Path | str],
    *,
    overrides: Options | None = None,
    env: Environment,
    out: Path | None = None,
    include_permanent: bool = False,
    again: bool = False,
    progress_factory: ProgressFactory = Progress,
) -> RunResult:
    """One new run of the rows of `run_dirs` that did not land (see the module docstring).

    One run directory that cannot be rerun (unfinished, already rerun) is refused;
    among several, it is left out with a warning. Nothing to rerun: a log line says so,
    exit code 0 and no run directory (`run_dir` None, `summary.run_dir` None).
    """
    sources_dirs = expand_run_dirs(run_dirs)
    if out is not None:
        check_fresh(out)
    sources: list[Source] = []
    notes: list[str] = []
    for run_dir in sources_dirs:
        with run_lock(run_dir):
            found = _source(
                run_dir, overrides=overrides, include_permanent=include_permanent, again=again
            )
        if isinstance(found, Source):
            sources.append(found)
        elif found:
            notes.append(found)
    if len(sources_dirs) == 1 and notes:
        raise RunDirError(notes[0])
    first = sources_dirs[0]
    if not sources:
        return _nothing_to_rerun(sources_dirs, notes)
    options = sources[0].options
    for other in sources[1:]:
        if (other.options.api.base_url, dict(other.options.columns)) != (
            options.api.base_url,
            dict(options.columns),
        ):
            raise RunDirError(
                f"{other.run_dir} and {sources[0].run_dir} used different base URLs or column"
                " mappings; rerun them separately"
            )
    target = out or rerun_dir(sources[0].run_dir, options.job_name)
    check_fresh(target)
    credentials = ready_credentials(sources[0].prepared, options=options, env=env)
    make_run_dir(target)
    try:
        inputs, names = _subset_inputs(sources, target / "inputs")
        prepared = prepare(inputs, options=options, names=names)
        check_limits(
            prepared.plan, max_changes=options.max_changes, max_cancels=options.max_cancels
        )
    except BaseException:
        remove_unstarted(target)
        raise
    for source in sources:
        _mark(source.run_dir, target)
    origin = Origin(
        reruns=str(sources[0].run_dir) if len(sources) == 1 else None,
        reruns_all=tuple(str(s.run_dir) for s in sources),
        rerun_notes=tuple(notes),
    )
    result = start_run(
        inputs,
        prepared,
        run_dir=target,
        options=options,
        credentials=credentials,
        progress_factory=progress_factory,
        names=names,
        origin=origin,
    )
    remember_rerun_rate(options, run_dir=first, summary=result.summary)
    return result


def _subset_inputs(sources: list[Source], folder: Path) -> tuple[list[Path], list[str]]:
    """Write the chosen rows, file by file, with their own columns and their origin
    (`sourceRun`, `sourceFile`, `sourceRow` as an integer; a rerun of a rerun keeps the first)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, names = [], []
    number = 0
    for source in sources:
        table = source.prepared.table
        chosen = table.raw.with_row_index("__index").filter(pl.col("__index").is_in(source.indexes))
        for input_file in table.files:
            rows = chosen.filter(pl.col("file") == input_file.name)
            if rows.height == 0:
                continue
            origin = {
                "sourceRun": pl.lit(source.run_dir.name),
                "sourceFile": pl.col("file"),
                "sourceRow": pl.col("row").cast(pl.Int64),
            }
            provenance = [e.alias(k) for k, e in origin.items() if k not in input_file.headers]
            if "sourceFile" in input_file.headers:
                provenance = []
            number += 1
            path = folder / f"{number}-{Path(input_file.name).stem}.parquet"
            rows.select(*input_file.headers, *provenance).write_parquet(path)
            paths.append(path)
            names.append(display_name(path))  # a path the user can open, as printed
    return paths, names


def rerun_dir(source: Path, job_name: str | None, *, root: Path | None = None) -> Path:
    """`<UTC time>-rerun-<job>` beside `source`: named as a rerun, so a glob of the job's
    own runs (`*-<job>-*`, the nightly sweep's `<time>-<job>-<file>`) never takes it.
    `<job>` is the source run's job, else its name without the time; a second rerun in
    the same second is `<time>-rerun-2-<job>`. `root`: another folder than the source's."""
    name = job_name or re.sub(r"^\d{8}T\d{6}Z-(rerun-(\d+-)?)?", "", source.name)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "run"
    folder = root or source.parent
    candidate = folder / f"{stamp}-rerun-{slug}"
    number = 2
    while candidate.exists():
        candidate = folder / f"{stamp}-rerun-{number}-{slug}"
        number += 1
    return candidate


def _nothing_to_rerun(sources: list[Path], notes: list[str]) -> RunResult:
    """Nothing to send: said in a log line and the summary's `note`; no run directory."""
    shown = ", ".join(map(str, sources))
    log.warning(
        "nothing to rerun in %s: every row landed, failed for good (include_permanent"
        " sends those) or is invalid; no run directory was made",
        shown,
        extra={NOTHING_TO_RERUN: True},  # the CLI says it in its own words instead
    )
    summary = RunSummary(
        command="rerun",
        run_dir=None,
        reruns_all=[str(s) for s in sources],
        rows=0,
        outcomes={},
        error_codes={},
        requests=0,
        stopped=None,
        exit_code=EXIT_OK,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        note="nothing to rerun: no row failed transiently, was unverified or not attempted",
        rerun_notes=notes,
    )
    return RunResult(None, summary, 0, pl.DataFrame(), tuple(notes))


def rerun_run(
    run_dir: Path,
    *,
    overrides: Options | None = None,
    env: Environment,
    out: Path | None = None,
    include_permanent: bool = False,
    again: bool = False,
    progress_factory: ProgressFactory = Progress,
) -> RunResult:
    """`rerun_runs` of one run directory."""
    return rerun_runs(
        [run_dir],
        overrides=overrides,
        env=env,
        out=out,
        include_permanent=include_permanent,
        again=again,
        progress_factory=progress_factory,
    )
