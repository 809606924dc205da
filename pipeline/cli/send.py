"""`run` and `validate`: read, check and send input files (SPEC §3)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.common import (
    REDACTOR,
    announce_finished,
    api_options,
    confirm_again,
    confirm_cancels,
    cron_options,
    environment,
    guard_options,
    input_options,
    input_paths,
    job_run_dir,
    library_errors,
    progress_for,
    remember_found_rate,
    resolve,
    show_result,
)
from pipeline.cli.durable import rerun_command
from pipeline.cli.logs import finished_line, log_format_option

if TYPE_CHECKING:
    from pipeline.settings import Environment


@click.command()
@input_options
@api_options
@guard_options
@click.option("--dry-run", is_flag=True, help="Validate and log in; send no change.")
@click.option("--yes", is_flag=True, help="Cancel without asking (needed without a terminal).")
@click.option("--no-refetch", is_flag=True, help="Skip refetch and verification (outcome 'sent').")
@cron_options
@click.option("--quiet", is_flag=True, help="No progress display.")
@library_errors
def run(
    inputs: tuple[Path, ...], job: Path | None, out: Path | None, quiet: bool, **cli: Any
) -> None:
    """Validate INPUT files and send their changes, then verify and report.

    Credentials come from QUIVO_API_KEY with QUIVO_USERNAME / QUIVO_PASSWORD (or
    QUIVO_TOKEN), from the environment or a .env file.

    \b
    Examples:
      quivo-bulk run fixes.csv --action address --out runs/fixes
      quivo-bulk run cancel-list.parquet --action cancel --yes --rate 2
      quivo-bulk run --job jobs/address-corrections.toml
    """
    from pipeline.run.runner import run_files

    env = environment()
    job_file, options = resolve(cli, job, env)
    confirm = confirm_cancels if sys.stdin.isatty() else None
    if not inputs and job_file is not None and job_file.rerun is not None:
        from_job = {
            "base_url": job_file.base_url,
            "rate": job_file.rate,
            "concurrency": job_file.concurrency,
            "retries": job_file.retries,
            "timeout": job_file.timeout_s,
        }
        given = {k: cli.get(k) if cli.get(k) is not None else v for k, v in from_job.items()}
        rerun_command(job_file.rerun_dirs(), cli={**cli, **given}, env=env, out=out, quiet=quiet)
        return
    if not inputs and job_file is not None and job_file.is_sweep():
        _sweep(job_file, cli=cli, env=env, confirm=confirm, quiet=quiet)
        return
    result = run_files(
        input_paths(inputs, job_file),
        options=options,
        env=env,
        out=out or job_run_dir(job_file),
        confirm=confirm,
        confirm_again=confirm_again if sys.stdin.isatty() else None,
        progress_factory=progress_for(quiet),
    )
    show_result(result)
    remember_found_rate(job_file, result)
    announce_finished(result)
    sys.exit(result.exit_code)


def _sweep(job: Any, *, cli: dict[str, Any], env: Environment, confirm: Any, quiet: bool) -> None:
    from pipeline.run.sweep import SweepItem, sweep_exit_code, sweep_job

    def on_item(item: SweepItem) -> None:
        if item.followup is not None:
            click.echo(item.message)
            finished_line("followup", **item.followup)
        elif item.result is not None:
            click.echo(f"{item.path}: {item.status}")
            show_result(item.result)
            remember_found_rate(job, item.result)
            announce_finished(item.result)
        else:
            click.echo(f"{item.path}: {item.status}; {REDACTOR.scrub(item.message)}")

    items = sweep_job(
        job,
        cli=cli,
        env=env,
        confirm=confirm,
        progress_factory=progress_for(quiet),
        on_item=on_item,
    )
    if not items:
        click.echo(f"no file matches {job.input!r}; nothing to do")
    code = sweep_exit_code(items)
    finished_line(
        "sweep_finished",
        job=job.job_name,
        exitCode=code,
        files=[
            {
                "path": str(item.path),
                "status": item.status,
                "exitCode": item.exit_code,
                "runDir": str(item.result.run_dir) if item.result is not None else None,
            }
            for item in items
        ],
    )
    sys.exit(code)


@click.command()
@input_options
@log_format_option
@library_errors
def validate(inputs: tuple[Path, ...], job: Path | None, out: Path | None, **cli: Any) -> None:
    """Validate INPUT files offline and write the reports; nothing is sent.

    \b
    Example:
      quivo-bulk validate fixes.xlsx --action address --out runs/check
    """
    from pipeline.run.runner import validate_files

    job_file, options = resolve(cli, job, None)
    result = validate_files(
        input_paths(inputs, job_file), options=options, out=out or job_run_dir(job_file)
    )
    show_result(result)
    announce_finished(result)
    sys.exit(result.exit_code)
