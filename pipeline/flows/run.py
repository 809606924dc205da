"""Run a bulk job end to end: read -> validate -> plan -> send -> refetch/verify -> report.

The library entry points behind the CLI, callable from a notebook:

    options = RunOptions(action="address")
    result = run_files([Path("fixes.xlsx")], options=options, env=Environment())
    result.results  # polars DataFrame, one row per input row
    result.exit_code
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.api.rate.shared import Pace
from pipeline.api.settings import Credentials
from pipeline.config.settings import Environment, RunOptions, is_loopback, settle_base_url
from pipeline.core.errors import OptionsError
from pipeline.core.manifest import InputFile, Manifest, Origin, RunSummary
from pipeline.core.outcomes import Outcome
from pipeline.plan.bulk import bulk_objects
from pipeline.plan.diff import row_changes
from pipeline.plan.guards import already_run, check_limits
from pipeline.plan.prepare import Prepared, locator, prepare
from pipeline.plan.resolve import resolve_order_keys
from pipeline.plan.sequence import Plan
from pipeline.reports.orderfile import write_before_images
from pipeline.reports.report import (
    OUTCOME_SCHEMA,
    outcome_frame,
    write_reports,
)
from pipeline.reports.summary import build_summary
from pipeline.send.freshness import ImageSource
from pipeline.send.progress import Progress
from pipeline.send.worker import finish_missing, send_plan
from pipeline.store.images import StoredImages, last_read, request_costs
from pipeline.store.journal import JOURNAL_NAME, Journal
from pipeline.store.rundir import check_fresh, make_run_dir, remove_unstarted, run_lock, seal

Confirm = Callable[[int, str], bool]  # (orders to cancel, base URL) -> go ahead?
ProgressFactory = Callable[[int], Progress]
# Told once a run has its directory and journal, before anything is sent: (run_dir, rows).
OnStarted = Callable[[Path, int], None]


@dataclass(frozen=True)
class RunResult:
    run_dir: Path | None  # None: no run happened (a rerun with nothing to rerun)
    summary: RunSummary  # what summary.json holds (`summary.to_json()`)
    exit_code: int
    results: pl.DataFrame
    warnings: tuple[str, ...] = ()
    finished_before: bool = False  # `resume` of a run that had already finished: nothing sent


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


def default_run_dir(name: str, *, root: Path = Path("runs")) -> Path:
    """`runs/<UTC time>-<name>/`, made unique if a run started in the same second."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = root / f"{stamp}-{_slug(name)}"
    number = 2
    while candidate.exists():
        candidate = root / f"{stamp}-{_slug(name)}-{number}"
        number += 1
    return candidate


def _dry_outcomes(prepared: Prepared) -> pl.DataFrame:
    """Outcomes of a validation: the settled rows, and `dry_run` for every valid row.

    Built as columns: a million-row validation makes no per-row result objects.
    """
    indexes, order_ids, actions = [], [], []
    for index, order_id, action in prepared.plan.sendable():
        indexes.append(index)
        order_ids.append(order_id if order_id > 0 else None)  # < 0: a key not yet resolved
        actions.append(action)
    given = {"__index": indexes, "orderId": order_ids, "action": actions}
    valid = pl.DataFrame(given, schema={k: OUTCOME_SCHEMA[k] for k in given}).with_columns(
        pl.lit(Outcome.DRY_RUN.value).alias("outcome"),
        pl.lit(0, dtype=pl.Int32).alias("attempts"),
        *[
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in OUTCOME_SCHEMA.items()
            if name not in (*given, "outcome", "attempts")
        ],
    )
    frame = pl.concat([outcome_frame(prepared.settled), valid.select(list(OUTCOME_SCHEMA))])
    now = pl.lit(datetime.now(UTC)).cast(OUTCOME_SCHEMA["decidedAt"])  # every row decided now
    return frame.sort("__index").with_columns(now.alias("decidedAt"))


def validate_files(
    inputs: Sequence[Path], *, options: RunOptions, out: Path | None = None
) -> RunResult:
    """Validate offline and write the reports; valid rows are `dry_run`."""
    if out is not None:
        check_fresh(out)
    prepared = prepare(inputs, options=options)
    run_dir = out or default_run_dir(f"validate-{inputs[0].stem}")
    check_fresh(run_dir)
    make_run_dir(run_dir)
    with bulk_objects():
        outcomes = _dry_outcomes(prepared)
    summary = build_summary(
        command="validate",
        run_dir=run_dir,
        options=options,
        table=prepared.table,
        outcomes=outcomes,
        stopped=None,
        journal=None,
    )
    frame = write_reports(
        run_dir,
        prepared.table,
        outcomes,
        [],
        summary=summary,
        default_address_type=options.address_type,
        fixable_only=True,
    )
    seal(run_dir)
    return RunResult(run_dir, summary, summary.exit_code, frame, prepared.table.warnings)


def _confirm_cancels(plan: Plan, options: RunOptions, confirm: Confirm | None) -> None:
    from urllib.parse import urlsplit

    host = urlsplit(options.api.base_url).hostname or ""
    orders = plan.cancel_orders()
    if not orders or options.dry_run or options.assume_yes or is_loopback(host):
        return
    if confirm is None:
        raise OptionsError(
            f"this run would cancel {orders} orders at {options.api.base_url}; without a"
            " terminal to confirm, pass --yes (or assume_yes = true in the job)"
        )
    if not confirm(orders, options.api.base_url):
        raise OptionsError("not confirmed; nothing was sent")


def new_manifest(prepared: Prepared, options: RunOptions, **entries: Any) -> Manifest:
    """The manifest of a run (or, with kind="plan", a plan) of `prepared`."""
    return Manifest(
        kind=entries.pop("kind", "run"),
        created_at=entries.pop("created_at", None) or datetime.now(UTC).replace(microsecond=0),
        inputs=tuple(
            InputFile(path=str(f.path.resolve()), name=f.name, sha256=f.sha256, rows=f.rows)
            for f in prepared.table.files
        ),
        row_count=prepared.table.raw.height,
        options=options.to_manifest(),
        **entries,
    )


def execute(
    prepared: Prepared,
    journal: Journal,
    *,
    run_dir: Path,
    options: RunOptions,
    credentials: Credentials,
    progress_factory: ProgressFactory,
    command: str,
    pace: Pace | None = None,
) -> RunResult:
    """Send what the journal does not have an outcome for, then write the reports.

    The preconditions of an apply or an undo come from the journal's manifest, so a
    resumed run checks them too; so does where the run came from (`Origin`).
    """
    manifest = journal.manifest
    preconditions = manifest.preconditions
    journal.begin_session(command)
    finished = journal.finished_indexes()
    journal.finish_rows(r for r in prepared.settled if r.index not in finished)
    journal.commit()
    finished = journal.finished_indexes()
    earlier = journal.attempts_by_row()
    to_send = sum(1 for index, _, _ in prepared.plan.sendable() if index not in finished)
    stopped: str | None = None
    earlier_images = None
    if preconditions and options.api.profile.stale_check == "search":
        earlier_images = ImageSource.of(journal.manifest)  # what the preconditions came from
    try:
        with progress_factory(to_send) as progress:
            stopped = asyncio.run(
                send_plan(
                    prepared.plan,
                    journal=journal,
                    options=options,
                    credentials=credentials,
                    progress=progress,
                    skip=finished,
                    earlier_attempts=earlier,
                    preconditions=preconditions,
                    locate=locator(prepared.table),
                    pace=pace,
                    images=earlier_images,
                )
            )
        finish_missing(prepared.plan, journal, stopped=stopped, dry_run=options.dry_run)
    finally:
        journal.end_session(stopped)
        if earlier_images is not None:
            earlier_images.close()
    images = StoredImages(journal)
    outcomes = outcome_frame(list(journal.results()), row_changes(prepared.plan, images))
    summary = build_summary(
        command=command,
        run_dir=run_dir,
        options=options,
        table=prepared.table,
        outcomes=outcomes,
        stopped=stopped,
        journal=journal,
        costs=request_costs(journal, outcomes.height, profile=options.api.profile),
        origin=manifest.origin,
    )
    write_before_images(run_dir, journal)
    frame = write_reports(
        run_dir,
        prepared.table,
        outcomes,
        last_read(journal),
        summary=summary,
        default_address_type=options.address_type,
    )
    journal.close()
    seal(run_dir)
    return RunResult(run_dir, summary, summary.exit_code, frame, prepared.table.warnings)


def run_files(
    inputs: Sequence[Path],
    *,
    options: RunOptions,
    env: Environment,
    out: Path | None = None,
    confirm: Confirm | None = None,
    progress_factory: ProgressFactory = Progress,
    names: Sequence[str] | None = None,
    origin: Origin | None = None,
    preconditions: Mapping[int, Mapping[str, Any]] | None = None,
    confirm_again: Callable[[str], bool] | None = None,
    prepared_dir: bool = False,
    pace: Pace | None = None,
    on_started: OnStarted | None = None,
) -> RunResult:
    """Run `inputs` against the API: the library behind `quivo-bulk run`.

    Everything that can refuse the run (an --out that is not empty, inputs, credentials,
    limits, the confirmation) is checked before the run directory is made.
    `origin`: the plan it applies, the run it undoes, the runs it reruns (kept in the
    manifest and summary.json).
    `preconditions`: per order ID, `path -> value` the order must still hold when it is
    read before its change, else its rows are `stale` (apply, undo --apply).
    `confirm_again`: asked (with the message) when an input already ran from the same
    runs directory; without it the run warns and goes on.
    `prepared_dir`: the caller made `out` for this run (its inputs may be inside).
    `pace`: a pacer and adaptive rate shared with other runs (a sweep's files); None:
    one for this run, shared by its lookups and its sending.
    `on_started`: told (run directory, rows) once the run directory is kept, before sending.
    """
    options = settle_base_url(options, env)
    if out is not None:
        check_fresh(out, prepared=prepared_dir)
    prepared = prepare(inputs, options=options, names=names)
    credentials = ready_credentials(prepared, options=options, env=env)
    check_limits(prepared.plan, max_changes=options.max_changes, max_cancels=options.max_cancels)
    _confirm_cancels(prepared.plan, options, confirm)
    run_dir = out or default_run_dir(options.job_name or inputs[0].stem)
    warnings = already_run(
        {f.sha256 for f in prepared.table.files},
        run_dir,
        sends=bool(prepared.plan.change_count) and not options.dry_run,
        options=options,
        confirm_again=confirm_again,
    )
    check_fresh(run_dir, prepared=prepared_dir)
    make_run_dir(run_dir)
    result = start_run(
        inputs,
        prepared,
        run_dir=run_dir,
        options=options,
        credentials=credentials,
        progress_factory=progress_factory,
        names=names,
        origin=origin,
        preconditions=preconditions,
        made_here=not prepared_dir,
        pace=pace,
        on_started=on_started,
    )
    return replace(result, warnings=(*warnings, *result.warnings))


def ready_credentials(prepared: Prepared, *, options: RunOptions, env: Environment) -> Credentials:
    """The environment's credentials, checked when the plan has something to send."""
    credentials = env.credentials()
    if prepared.plan.change_count:
        credentials.check()
    return credentials


def start_run(
    inputs: Sequence[Path],
    prepared: Prepared,
    *,
    run_dir: Path,
    options: RunOptions,
    credentials: Credentials,
    progress_factory: ProgressFactory,
    names: Sequence[str] | None,
    origin: Origin | None = None,
    preconditions: Mapping[int, Mapping[str, Any]] | None = None,
    made_here: bool = True,
    pace: Pace | None = None,
    on_started: OnStarted | None = None,
) -> RunResult:
    """Journal and run `prepared` (read from `inputs`) in the new `run_dir`, holding its lock.

    A run that cannot start (the journal cannot be made) leaves no half-made directory
    (`made_here`: the directory was made for this run and may be taken away).
    """
    # One rate and one login for the lookups and the sends.
    pace = (pace or Pace.for_settings(options.api)).new_run()
    manifest = new_manifest(
        prepared,
        options,
        origin=origin or Origin(),
        preconditions={k: dict(v) for k, v in (preconditions or {}).items()},
    )
    with run_lock(run_dir):
        try:
            journal = Journal.create(run_dir / JOURNAL_NAME, manifest)
        except BaseException:
            if made_here:
                remove_unstarted(run_dir)
            raise
        seal(run_dir)
        try:
            if on_started is not None:
                on_started(run_dir, prepared.table.raw.height)
            prepared = resolve_order_keys(
                prepared,
                prepared.table.fields,
                replan=lambda resolved: prepare(
                    inputs, options=options, names=names, resolved=resolved
                ),
                journal=journal,
                options=options,
                credentials=credentials,
                pace=pace,
            )
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
            command="run",
            pace=pace,
        )
