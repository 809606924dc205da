"""`plan`, `apply`, `undo`: look before you change, take it back after (docs/plan-apply-undo.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pipeline.cli.common import (
    api_options,
    confirm_again,
    confirm_cancels,
    cron_options,
    environment,
    guard_options,
    input_options,
    input_paths,
    library_errors,
    options_from_cli,
    progress_for,
    resolve,
)
from pipeline.cli.show import announce_finished, show_result

OVERRIDES = (
    "base_url",
    "rate",
    "concurrency",
    "retries",
    "timeout_s",
    "assume_yes",
    "expected_failures",
)
GUARDS = ("max_changes", "max_cancels", "breaker", "snapshot")


@click.command()
@input_options
@api_options
@click.option("--quiet", is_flag=True, help="No progress display.")
@library_errors
def plan(
    inputs: tuple[Path, ...], job: Path | None, out: Path | None, quiet: bool, **cli: Any
) -> None:
    """Read the orders INPUT files target and show what would change; send nothing.

    Writes a plan directory (plan.xlsx, plan.csv, plan.parquet, summary.json) with
    one row per input row: its prediction (will_change, unchanged, will_fail,
    invalid, duplicate) and its changes as `field: old -> new`. Exit 0 when every
    row will change or is unchanged, 1 otherwise, 2 as run.

    \b
    Example:
      quivo-bulk plan fixes.csv --action address --out runs/plan-fixes
      quivo-bulk apply runs/plan-fixes
    """
    from pipeline.cli.common import job_run_dir
    from pipeline.cli.show import echo_warnings
    from pipeline.flows.plan import plan_files
    from pipeline.plan.predict import summary_lines

    env = environment()
    job_file, options = resolve(cli, job, env)
    planned_dir = out
    if planned_dir is None and job_file is not None:
        run_dir = job_run_dir(job_file)
        planned_dir = run_dir.with_name(f"plan-{run_dir.name}") if run_dir else None
    result = plan_files(
        input_paths(inputs, job_file),
        options=options,
        env=env,
        out=planned_dir,
        progress_factory=progress_for(quiet),
    )
    echo_warnings(result.warnings)
    for line in summary_lines(result.summary):
        click.echo(line)
    click.echo(f"plan: {result.plan_dir} (open plan.xlsx)")
    if result.summary.predictions.get("will_change"):
        click.echo(f"next: quivo-bulk apply {result.plan_dir}")
    sys.exit(result.exit_code)


@click.command()
@click.argument("plan_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--out", type=click.Path(path_type=Path), help="Run directory of the apply.")
@click.option(
    "--max-age",
    default="24h",
    show_default=True,
    help="Refuse a plan older than this (e.g. 36h, 90m, 2d).",
)
@click.option("--yes", is_flag=True, help="Cancel without asking (needed without a terminal).")
@api_options
@guard_options
@cron_options
@click.option("--quiet", is_flag=True, help="No progress display.")
@library_errors
def apply(plan_dir: Path, out: Path | None, max_age: str, quiet: bool, **cli: Any) -> None:
    """Send exactly the will_change rows of PLAN_DIR, each order only if unchanged since.

    Each order is checked again first (its lastModified and status, 50 orders a
    search; a full read when it moved): one changed by someone else since the plan
    becomes `stale` (changed_since_plan) and nothing is sent for it. The result is
    an ordinary run directory (results, errors, resume, rerun, undo).

    \b
    Example:
      quivo-bulk apply runs/plan-fixes --max-age 36h
    """
    from pipeline.flows.apply import apply_plan, parse_age

    result = apply_plan(
        plan_dir,
        env=environment(),
        overrides=options_from_cli(cli).only(OVERRIDES + GUARDS),
        out=out,
        max_age=parse_age(max_age),
        confirm=confirm_cancels if sys.stdin.isatty() else None,
        confirm_again=confirm_again if sys.stdin.isatty() else None,
        progress_factory=progress_for(quiet),
    )
    show_result(result)
    announce_finished(result)
    sys.exit(result.exit_code)


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--apply", "apply_now", is_flag=True, help="Run undo.csv now, as a new run.")
@click.option("--out", type=click.Path(path_type=Path), help="Folder for undo.csv (RUN_DIR/undo).")
@click.option("--yes", is_flag=True, help="Go on without asking.")
@api_options
@guard_options
@cron_options
@click.option("--quiet", is_flag=True, help="No progress display.")
@library_errors
def undo(run_dir: Path, apply_now: bool, out: Path | None, quiet: bool, **cli: Any) -> None:
    """Write the inverse of RUN_DIR's applied changes: undo/undo.csv and not-undoable.csv.

    With --apply, undo.csv runs as a new run: an order changed by someone else
    since RUN_DIR is `stale`, not overwritten. Cancels cannot be undone.

    \b
    Examples:
      quivo-bulk undo runs/fixes
      quivo-bulk undo runs/fixes --apply
    """
    from pipeline.flows.undo import undo_run

    result = undo_run(
        run_dir,
        env=environment() if apply_now else None,
        out=out,
        apply=apply_now,
        overrides=options_from_cli(cli).only(OVERRIDES + GUARDS),
        confirm=confirm_cancels if sys.stdin.isatty() else None,
        progress_factory=progress_for(quiet),
    )
    click.echo(f"undo: {result.rows} rows in {result.undo_csv}")
    click.echo(f"not undoable: {result.not_undoable} rows in {result.not_undoable_csv}")
    if result.run is None:
        if result.rows:
            click.echo(f"next: quivo-bulk undo {run_dir} --apply")
        sys.exit(0)
    show_result(result.run)
    announce_finished(result.run)
    sys.exit(result.run.exit_code)
