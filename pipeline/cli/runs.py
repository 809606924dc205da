"""`resume`, `rerun`, `report`: finish, resend and show past runs (docs/durability.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.common import (
    REDACTOR,
    api_options,
    cron_options,
    environment,
    guard_options,
    library_errors,
    options_from_cli,
    progress_for,
)
from pipeline.cli.show import announce_finished, show_result

if TYPE_CHECKING:
    from pipeline.config.options import Options
    from pipeline.config.settings import Environment


def rerun_command(
    run_dirs: list[Path],
    *,
    overrides: Options,
    env: Environment,
    out: Path | None,
    quiet: bool,
    include_permanent: bool = False,
    again: bool = False,
) -> None:
    import logging

    from pipeline.flows.rerun import NOTHING_TO_RERUN, rerun_runs

    library_log = logging.getLogger("pipeline.flows.rerun")

    def not_ours(record: logging.LogRecord) -> bool:  # said below, with the CLI's options
        return not getattr(record, NOTHING_TO_RERUN, False)

    library_log.addFilter(not_ours)
    try:
        result = rerun_runs(
            run_dirs,
            overrides=overrides.only(RERUN_OPTIONS),
            env=env,
            out=out,
            include_permanent=include_permanent,
            again=again,
            progress_factory=progress_for(quiet),
        )
    finally:
        library_log.removeFilter(not_ours)
    if not result.summary.rows:
        for note in result.warnings:
            click.echo(f"warning: {REDACTOR.scrub(note)}", err=True)
        shown = ", ".join(map(str, run_dirs))
        click.echo(
            f"{shown}: nothing to rerun; every row landed, failed for good"
            " (--include-permanent sends those) or is invalid (see errors.csv);"
            " no run directory was made"
        )
        announce_finished(result)  # runDir null: monitoring sees the rerun ended
        sys.exit(0)
    show_result(result)
    announce_finished(result)
    sys.exit(result.exit_code)


RERUN_OPTIONS = (
    "base_url", "rate", "concurrency", "retries", "timeout_s", "dry_run", "refetch",
    "expected_failures", "max_changes", "max_cancels", "breaker", "snapshot",
)  # fmt: skip


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Run directory of the new run.")
@api_options
@click.option(
    "--include-permanent",
    is_flag=True,
    help="Also send rows that failed for good (status_conflict, order_not_found, rejected, ...).",
)
@click.option("--again", is_flag=True, help="Rerun runs that were already rerun.")
@guard_options
@cron_options
@click.option("--quiet", is_flag=True, help="No progress display.")
@library_errors
def rerun(
    run_dirs: tuple[Path, ...],
    out: Path | None,
    include_permanent: bool,
    again: bool,
    quiet: bool,
    **cli: Any,
) -> None:
    """Send again the rows of finished runs that did not land.

    Rows that failed with a transient cause (rate_limited, server_error, timeout,
    network, bad_response, aborted), were unverified or not attempted go into one
    new run. Permanent failures need --include-permanent; invalid rows are never
    sent (fix them in errors.csv). RUN_DIRS may be several directories or a quoted
    glob. A run already rerun is left out unless --again. The new run uses the
    original run's settings (options given here override them).

    \b
    Examples:
      quivo-bulk rerun runs/20261124T020000Z-nightly-cancellation-sweep-a --rate 2
      quivo-bulk rerun 'runs/nightly/20261124T*-nightly-cancellation-sweep-*'
    """
    rerun_command(
        list(run_dirs),
        overrides=options_from_cli(cli),
        env=environment(),
        out=out,
        quiet=quiet,
        include_permanent=include_permanent,
        again=again,
    )


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@api_options
@cron_options
@click.option("--quiet", is_flag=True, help="No progress display.")
@library_errors
def resume(run_dir: Path, quiet: bool, **cli: Any) -> None:
    """Finish a run that stopped early (exit 3) or was killed: rows that finished are not
    sent again; rows not attempted or in flight when it stopped are sent now.

    \b
    Example:
      quivo-bulk resume runs/20261124T020000Z-nightly
    """
    from pipeline.flows.resume import resume_run

    env = environment()
    result = resume_run(
        run_dir, overrides=options_from_cli(cli), env=env, progress_factory=progress_for(quiet)
    )
    if result.finished_before:
        click.echo(
            f"{run_dir} is finished (exit code {result.exit_code}); nothing to resume,"
            " nothing was sent. Its summary:"
        )
    show_result(result)
    announce_finished(result)
    sys.exit(result.exit_code)


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--rebuild", is_flag=True, help="Write the reports again from the journal first.")
@library_errors
def report(run_dir: Path, rebuild: bool) -> None:
    """Print the summary of a past run (its exit code is the run's).

    \b
    Examples:
      quivo-bulk report runs/20261124T020000Z-nightly
      quivo-bulk report runs/20261124T020000Z-nightly --rebuild
    """
    import json

    from pipeline.core.errors import RunDirError
    from pipeline.flows.run import RunResult

    if rebuild:
        from pipeline.flows.resume import rebuild_reports

        result = rebuild_reports(run_dir)
        show_result(result)
        sys.exit(result.exit_code)
    path = run_dir / "summary.json"
    if not path.exists():
        raise RunDirError(f"{run_dir}: no summary.json; is this a run directory?")
    import polars as pl

    from pipeline.core.manifest import read_summary

    try:
        summary = read_summary(json.loads(path.read_text()))
    except ValueError:
        raise RunDirError(f"{path}: not JSON; rebuild it with --rebuild") from None
    show_result(RunResult(run_dir, summary, summary.exit_code, pl.DataFrame()))
    sys.exit(summary.exit_code)


@click.command()
@click.argument(
    "run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False)
)
@api_options
@cron_options
@library_errors
def followup(run_dirs: tuple[Path, ...], **cli: Any) -> None:
    """Follow up the cancel requests of RUN_DIR...: each order `cancelled`, `shipped`
    (COMPLETED after the request) or `pending`, with when the cancel was requested.

    Reads the orders again in batches (GET /orders, 50 a request) and sends no change;
    writes followup.csv and followup.parquet in each run directory. Exit 1 when an order
    shipped anyway, unless --expected-failures shipped.

    \b
    Example:
      quivo-bulk followup runs/nightly/20261124T023000Z-nightly-cancellation-sweep-a
    """
    from pipeline.cli.logs import finished_line
    from pipeline.flows.followup import follow_up_runs

    result = follow_up_runs(list(run_dirs), env=environment(), overrides=options_from_cli(cli))
    if not result.runs:
        click.echo("no cancel request left to follow up: every one is cancelled or shipped")
    else:
        for line in result.lines():
            click.echo(line)
    finished_line("followup", **result.event())
    sys.exit(result.exit_code)
