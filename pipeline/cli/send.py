"""`run` and `validate`: read, check and send input files (docs/reference/commands.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.common import (
    REDACTOR,
    api_options,
    confirm_again,
    confirm_cancels,
    cron_options,
    environment,
    fail,
    guard_options,
    input_options,
    input_paths,
    job_run_dir,
    library_errors,
    options_from_cli,
    progress_for,
    remember_found_rate,
    resolve,
)
from pipeline.cli.logs import log_format_option
from pipeline.cli.runs import rerun_command
from pipeline.cli.show import announce_finished, show_result
from pipeline.core.outcomes import EXIT_STOPPED

if TYPE_CHECKING:
    from pipeline.config.options import Options
    from pipeline.config.settings import Environment


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
    from pipeline.flows.run import run_files

    env = environment()
    job_file, options = resolve(cli, job, env)
    confirm = confirm_cancels if sys.stdin.isatty() else None
    if not inputs and job_file is not None and job_file.rerun is not None:
        # A rerun job's API options are its own; the command line's win.
        from_job = job_file.options().only(
            ("base_url", "rate", "concurrency", "retries", "timeout_s")
        )
        overrides = options_from_cli(cli).under(from_job)
        rerun_command(job_file.rerun_dirs(), overrides=overrides, env=env, out=out, quiet=quiet)
        return
    if not inputs and job_file is not None and job_file.is_sweep():
        _sweep(job_file, overrides=options_from_cli(cli), env=env, confirm=confirm, quiet=quiet)
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


def _sweep(job: Any, *, overrides: Options, env: Environment, confirm: Any, quiet: bool) -> None:
    """A sweep's log: `sweep_started`, per file `file_started` (from the sweep), the run's
    summary and `run_finished` or one `file_<status>` line, then one `sweep_finished`, also
    when the sweep is refused (the lock) or stops on an error."""
    from pipeline.cli.logs import event_line, json_mode
    from pipeline.core.errors import QuivoBulkError
    from pipeline.flows.sweep import SweepItem, sweep_exit_code, sweep_job

    items: list[SweepItem] = []
    event_line("sweep_started", job=job.job_name, pid=os.getpid())

    def on_item(item: SweepItem) -> None:
        items.append(item)
        message = REDACTOR.scrub(item.message)
        if item.followup is not None:  # the follow-up of earlier nights' cancel requests
            if not json_mode():
                click.echo(message)
            event_line("followup", **item.followup)
            return
        if item.result is not None:  # the run's story first, then the file's line
            show_result(item.result)
            remember_found_rate(job, item.result)
            announce_finished(item.result)
        if json_mode():
            name = {"rejected": "file_refused"}.get(item.status, f"file_{item.status}")
            fields = {
                "path": str(item.path),
                "status": item.status,
                "exitCode": item.exit_code,
                "runDir": str(item.result.run_dir) if item.result is not None else None,
                "message": message or None,
            }
            event_line(name, **fields)
        else:
            click.echo(f"{item.path}: {item.status}" + (f"; {message}" if message else ""))

    def on_event(name: str, fields: dict[str, Any]) -> None:
        if "message" in fields:
            fields = {**fields, "message": REDACTOR.scrub(str(fields["message"]))}
        event_line(name, **fields)

    def finished(code: int, **extra: Any) -> None:
        event_line(
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
                if item.followup is None  # the files only; the follow-up has its own line
            ],
            **extra,
        )

    try:
        sweep_job(
            job,
            overrides=overrides,
            env=env,
            confirm=confirm,
            progress_factory=progress_for(quiet),
            on_item=on_item,
            on_event=on_event,
        )
    except (QuivoBulkError, KeyboardInterrupt) as error:  # refused (the lock), or stopped
        failure = fail(error) if isinstance(error, QuivoBulkError) else None
        message = failure.message if failure else "interrupted"
        code = failure.exit_code if failure else EXIT_STOPPED
        click.echo(f"Error: {message}", err=True)
        finished(code, error=message)
        sys.exit(code)
    except Exception as error:
        finished(EXIT_STOPPED, error=f"internal error ({type(error).__name__})")
        raise
    if not items:
        click.echo(f"no file matches {job.input!r}; nothing to do")
    code = sweep_exit_code(items)
    finished(code)
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
    from pipeline.flows.run import validate_files

    job_file, options = resolve(cli, job, None)
    result = validate_files(
        input_paths(inputs, job_file), options=options, out=out or job_run_dir(job_file)
    )
    show_result(result)
    announce_finished(result)
    sys.exit(result.exit_code)
