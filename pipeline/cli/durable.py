"""`resume`, `rerun`, `report`: finish, resend and show past runs (SPEC §8)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.common import (
    api_options,
    environment,
    library_errors,
    progress_for,
    show_result,
)

if TYPE_CHECKING:
    from pipeline.settings import Environment


def rerun_command(
    run_dir: Path, *, cli: dict[str, Any], env: Environment, out: Path | None, quiet: bool
) -> None:
    from pipeline.run.durable import rerun_run

    given = {k: v for k, v in cli.items() if k in RERUN_OPTIONS}
    result = rerun_run(run_dir, cli=given, env=env, out=out, progress_factory=progress_for(quiet))
    if not result.summary["rows"]:
        click.echo(f"{run_dir}: nothing to rerun; every row landed or is invalid (see errors.csv)")
        sys.exit(0)
    show_result(result)
    sys.exit(result.exit_code)


RERUN_OPTIONS = ("base_url", "rate", "concurrency", "retries", "timeout", "dry_run", "no_refetch")


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), help="Run directory of the new run.")
@api_options
@click.option("--quiet", is_flag=True, help="No progress display.")
@library_errors
def rerun(run_dir: Path, out: Path | None, quiet: bool, **cli: Any) -> None:
    """Send again the rows of a finished run that failed, were unverified or not attempted.

    Invalid rows are left out: fix them in errors.csv and run that file. The new
    run uses the original run's settings (options given here override them) and
    records which run it reruns.

    \b
    Example:
      quivo-bulk rerun runs/20261124T020000Z-nightly-cancellation-sweep --rate 2
    """
    rerun_command(run_dir, cli=cli, env=environment(), out=out, quiet=quiet)


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@api_options
@click.option("--quiet", is_flag=True, help="No progress display.")
@library_errors
def resume(run_dir: Path, quiet: bool, **cli: Any) -> None:
    """Finish an interrupted run: rows that finished are not sent again.

    \b
    Example:
      quivo-bulk resume runs/20261124T020000Z-nightly
    """
    from pipeline.run.durable import resume_run

    env = environment()
    result = resume_run(run_dir, cli=cli, env=env, progress_factory=progress_for(quiet))
    show_result(result)
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

    from pipeline.errors import RunDirError
    from pipeline.run.runner import RunResult

    if rebuild:
        from pipeline.run.durable import rebuild_reports

        result = rebuild_reports(run_dir)
        show_result(result)
        sys.exit(result.exit_code)
    path = run_dir / "summary.json"
    if not path.exists():
        raise RunDirError(f"{run_dir}: no summary.json; is this a run directory?")
    import polars as pl

    summary = json.loads(path.read_text())
    show_result(RunResult(run_dir, summary, summary["exit_code"], pl.DataFrame()))
    sys.exit(summary["exit_code"])
