"""The `quivo-bulk` command line: a thin click layer over the library.

Each command parses options, calls one library function, and turns the
library's `QuivoBulkError`s into one-line messages and exit codes (here and
nowhere else). Heavy imports (polars, aiohttp) happen inside the commands so
`quivo-bulk --help` starts fast.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipeline.errors import QuivoBulkError, UsageError

if TYPE_CHECKING:
    from pipeline.run.runner import RunResult
    from pipeline.settings import Environment

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_ROWS_FAILED, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3
ACTIONS = click.Choice(["update", "address", "cancel"], case_sensitive=False)
ADDRESS_TYPES = click.Choice(["DELIVERY", "INVOICE", "DELIVERY_AND_INVOICE"], case_sensitive=False)


class UsageFailure(click.ClickException):
    """The input, job or options could not be used: nothing was sent (exit 2)."""

    exit_code = EXIT_USAGE


class StoppedFailure(click.ClickException):
    """The run stopped early or could not finish its reports (exit 3)."""

    exit_code = EXIT_STOPPED


# Shorter "secrets" would scrub ordinary words out of every message; they protect nothing.
MIN_SECRET_CHARS = 4


class Redactor(logging.Filter):
    """Replaces every known secret value in log records and messages with ***."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if len(secret) >= MIN_SECRET_CHARS:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        return True


REDACTOR = Redactor()


def fail(error: QuivoBulkError) -> click.ClickException:
    """Translate a library error into a click error with the contract's exit code."""
    message = REDACTOR.scrub(str(error))
    if isinstance(error, UsageError):
        return UsageFailure(message)
    return StoppedFailure(message)


def environment() -> Environment:
    """QUIVO_* settings; their secrets are registered for redaction."""
    from pipeline.settings import Environment

    env = Environment()
    REDACTOR.secrets = env.credentials().secrets()
    return env


def input_options(fn: F) -> F:
    """Options shared by the commands that read input files."""
    decorators = [
        click.argument("inputs", nargs=-1, type=click.Path(path_type=Path)),
        click.option("--job", type=click.Path(path_type=Path), help="Job file (TOML)."),
        click.option("--action", type=ACTIONS, help="Action for rows without an action cell."),
        click.option(
            "--address-type",
            type=ADDRESS_TYPES,
            help="Address type for address rows without one (default DELIVERY).",
        ),
        click.option("--sheet", help="Excel sheet to read (default: the first)."),
        click.option(
            "--out", type=click.Path(path_type=Path), help="Run directory for the reports."
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def api_options(fn: F) -> F:
    """Options that tune how requests are sent."""
    decorators = [
        click.option("--base-url", help="API base URL (https, or http on loopback)."),
        click.option(
            "--rate", type=click.FloatRange(min=0), help="Requests per second (default 5)."
        ),
        click.option(
            "--concurrency", type=click.IntRange(1, 64), help="Requests in flight (default 4)."
        ),
        click.option("--retries", type=click.IntRange(0, 10), help="Retries per request."),
        click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds per request (30)."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def library_errors(fn: F) -> F:
    """Run a command, translating library errors into one-line messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except QuivoBulkError as error:
            raise fail(error) from None
        except KeyboardInterrupt:
            raise StoppedFailure("interrupted before anything was sent") from None
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as error:  # a bug: one scrubbed line, never a traceback
            name = type(error).__name__
            raise StoppedFailure(
                f"internal error ({name}: {REDACTOR.scrub(str(error))[:300]}); please report"
                " it with the command you ran; the journal keeps the run resumable"
            ) from None

    return wrapper  # type: ignore[return-value]


def _resolve(cli: dict[str, Any], job_path: Path | None, env: Environment | None) -> Any:
    from pipeline.jobfile import load_job
    from pipeline.settings import resolve_options

    job = load_job(job_path) if job_path else None
    return job, resolve_options(cli=cli, job=job, env=env)


def _inputs(inputs: tuple[Path, ...], job: Any) -> list[Path]:
    if inputs:
        return list(inputs)
    if job is not None:
        paths: list[Path] = job.input_paths()
        if not paths:
            raise UsageFailure(f"the job's input {job.input!r} matches no file")
        return paths
    raise UsageFailure("name at least one input file (or a --job with an input)")


def _job_run_dir(job: Any) -> Path | None:
    """A job's run goes under its `runs_dir` (relative to the job file), not the cwd."""
    if job is None:
        return None
    from pipeline.run.runner import default_run_dir

    run_dir: Path = default_run_dir(job.job_name, root=job.resolve(job.runs_dir))
    return run_dir


def _confirm(orders: int, base_url: str) -> bool:
    return click.confirm(f"Cancel {orders} orders at {base_url}?", default=False, err=True)


def _progress(quiet: bool) -> Callable[[int], Any]:
    from pipeline.run.progress import make_progress

    return lambda total: make_progress(total, interactive=None, quiet=quiet)


def show_result(result: RunResult) -> None:
    """Print the warnings, the summary table and where the reports are."""
    from rich.console import Console
    from rich.table import Table

    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    summary = result.summary
    table = Table(title=f"quivo-bulk {summary['command']}: {summary['rows']} rows")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    for outcome, count in summary["outcomes"].items():
        table.add_row(outcome, str(count))
    for code, count in summary["error_codes"].items():
        table.add_row(f"  {code}", str(count), style="dim")
    if summary["requests"]:
        table.add_section()
        table.add_row("requests", str(summary["requests"]))
        table.add_row("retries", str(summary["retries"]))
        table.add_row("429 answers", str(summary["rate_limited"]))
        table.add_row("requests/s", f"{summary['achieved_requests_per_s']:.1f}")
        table.add_row("wall time", f"{summary['wall_time_s']:.1f} s")
    console = Console(soft_wrap=True)
    console.print(table)
    if summary.get("stopped"):
        click.echo(f"stopped early: {REDACTOR.scrub(summary['stopped'])}", err=True)
    click.echo(f"reports: {result.run_dir}")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="quivo-bulk")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="warning",
    show_default=True,
    help="How much to log on stderr.",
)
def main(log_level: str) -> None:
    """Bulk changes to Quivo fulfillment orders: validate, send, verify, report.

    \b
    Exit codes: 0 all rows applied/duplicate/unchanged (or a clean dry run),
    1 some rows invalid/failed/unverified, 2 unusable input/job/options
    (nothing sent), 3 stopped early (API unusable, Ctrl-C).

    \b
    Example:
      quivo-bulk run corrections.xlsx --action address --base-url http://127.0.0.1:8787
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(REDACTOR)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("pipeline")
    logger.handlers[:] = [handler]
    logger.setLevel(log_level.upper())


@main.command()
@input_options
@api_options
@click.option("--dry-run", is_flag=True, help="Validate and log in; send no change.")
@click.option("--yes", is_flag=True, help="Cancel without asking (needed without a terminal).")
@click.option("--no-refetch", is_flag=True, help="Skip refetch and verification (outcome 'sent').")
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
    job_file, options = _resolve(cli, job, env)
    confirm = _confirm if sys.stdin.isatty() else None
    if not inputs and job_file is not None and job_file.rerun is not None:
        from_job = {
            "base_url": job_file.base_url,
            "rate": job_file.rate,
            "concurrency": job_file.concurrency,
            "retries": job_file.retries,
            "timeout": job_file.timeout_s,
        }
        given = {k: cli.get(k) if cli.get(k) is not None else v for k, v in from_job.items()}
        _rerun(job_file.rerun_dir(), cli={**cli, **given}, env=env, out=out, quiet=quiet)
        return
    if not inputs and job_file is not None and job_file.is_sweep():
        _sweep(job_file, cli=cli, env=env, confirm=confirm, quiet=quiet)
        return
    result = run_files(
        _inputs(inputs, job_file),
        options=options,
        env=env,
        out=out or _job_run_dir(job_file),
        confirm=confirm,
        progress_factory=_progress(quiet),
    )
    show_result(result)
    sys.exit(result.exit_code)


def _sweep(job: Any, *, cli: dict[str, Any], env: Environment, confirm: Any, quiet: bool) -> None:
    from pipeline.run.sweep import SweepItem, sweep_exit_code, sweep_job

    def on_item(item: SweepItem) -> None:
        if item.result is not None:
            click.echo(f"{item.path}: {item.status}")
            show_result(item.result)
        else:
            click.echo(f"{item.path}: {item.status}; {REDACTOR.scrub(item.message)}")

    items = sweep_job(
        job, cli=cli, env=env, confirm=confirm, progress_factory=_progress(quiet), on_item=on_item
    )
    if not items:
        click.echo(f"no file matches {job.input!r}; nothing to do")
    sys.exit(sweep_exit_code(items))


def _rerun(
    run_dir: Path, *, cli: dict[str, Any], env: Environment, out: Path | None, quiet: bool
) -> None:
    from pipeline.run.durable import rerun_run

    given = {k: v for k, v in cli.items() if k in RERUN_OPTIONS}
    result = rerun_run(run_dir, cli=given, env=env, out=out, progress_factory=_progress(quiet))
    if not result.summary["rows"]:
        click.echo(f"{run_dir}: nothing to rerun; every row landed or is invalid (see errors.csv)")
        sys.exit(0)
    show_result(result)
    sys.exit(result.exit_code)


RERUN_OPTIONS = ("base_url", "rate", "concurrency", "retries", "timeout", "dry_run", "no_refetch")


@main.command()
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
    _rerun(run_dir, cli=cli, env=environment(), out=out, quiet=quiet)


@main.command()
@input_options
@library_errors
def validate(inputs: tuple[Path, ...], job: Path | None, out: Path | None, **cli: Any) -> None:
    """Validate INPUT files offline and write the reports; nothing is sent.

    \b
    Example:
      quivo-bulk validate fixes.xlsx --action address --out runs/check
    """
    from pipeline.run.runner import validate_files

    job_file, options = _resolve(cli, job, None)
    result = validate_files(
        _inputs(inputs, job_file), options=options, out=out or _job_run_dir(job_file)
    )
    show_result(result)
    sys.exit(result.exit_code)


@main.command()
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
    result = resume_run(run_dir, cli=cli, env=env, progress_factory=_progress(quiet))
    show_result(result)
    sys.exit(result.exit_code)


@main.command()
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


@main.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("runs/demo"), show_default=True
)
@library_errors
def demo(out: Path) -> None:
    """Start an in-process sandbox and run the sample jobs against it.

    \b
    Example:
      quivo-bulk demo --out runs/demo
    """
    from pipeline.cli.demo import run_demo

    for result in run_demo(out_root=out, echo=click.echo):
        show_result(result)
        click.echo()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8787, show_default=True, help="Port; 0 picks a free one.")
@click.option(
    "--orders",
    "orders_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON-lines file of full orders (default: generate --count orders from --seed).",
)
@click.option("--count", default=300, show_default=True, help="Orders to generate.")
@click.option("--seed", default=7, show_default=True, help="Seed for generated orders and faults.")
@click.option("--rate-limit", type=int, help="Answer 429 above N requests in any second.")
@click.option(
    "--retry-after",
    type=click.Choice(["seconds", "date", "none"]),
    default="seconds",
    show_default=True,
    help="How 429 answers carry Retry-After.",
)
@click.option("--token-ttl", default=3600.0, show_default=True, help="Token lifetime, seconds.")
@click.option(
    "--cancel-delay",
    default=5.0,
    show_default=True,
    help="Seconds until CANCELLED after a request.",
)
@click.option(
    "--faults",
    default="",
    help="Injected faults, e.g. 'error=0.1,drop=0.03,slow=0.05,slow_s=3,malformed=0.02,"
    "complete=0.05'.",
)
@click.option("--api-key", envvar="QUIVO_API_KEY", default="sandbox-key", show_default=False)
@click.option("--username", envvar="QUIVO_USERNAME", default="sandbox", show_default=False)
@click.option("--password", envvar="QUIVO_PASSWORD", default="sandbox", show_default=False)
def sandbox(
    host: str,
    port: int,
    orders_file: str | None,
    count: int,
    seed: int,
    rate_limit: int | None,
    retry_after: str,
    token_ttl: float,
    cancel_delay: float,
    faults: str,
    api_key: str,
    username: str,
    password: str,
) -> None:
    """Serve a Quivo-compatible API on loopback for demos and tests.

    Credentials come from the options, else QUIVO_API_KEY / QUIVO_USERNAME /
    QUIVO_PASSWORD, else sandbox-key / sandbox / sandbox.

    \b
    Example:
      quivo-bulk sandbox --orders sample_data/sandbox_orders.jsonl --port 8787 \\
          --rate-limit 20 --faults error=0.05,drop=0.01
    """
    import asyncio
    import gc

    from pipeline.sandbox import STATE, SandboxConfig, create_app, load_orders
    from pipeline.sandbox.cli_options import parse_faults
    from pipeline.sandbox.serve import serve_forever

    try:
        fault_config = parse_faults(faults)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--faults") from None
    config = SandboxConfig(
        api_key=api_key,
        username=username,
        password=password,
        token_ttl_s=token_ttl,
        cancel_delay_s=cancel_delay,
        rate_limit_per_s=rate_limit,
        retry_after=retry_after,  # type: ignore[arg-type]  # click.Choice guarantees the literal
        faults=fault_config,
        seed=seed,
        count=count,
    )
    orders = load_orders(Path(orders_file)) if orders_file else None
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: the sandbox listens on {host}, not only on loopback", err=True)

    def announce(base_url: str) -> None:
        click.echo(f"Sandbox listening on {base_url}")
        sys.stdout.flush()

    app = create_app(config, orders=orders)
    if count <= 200_000:
        # Generate the orders up front and freeze them out of the garbage collector: a
        # collection pausing the server mid-run would bunch its arrival stamps, and the
        # stamps are what tests and benchmarks read the request rate from.
        app[STATE].store.materialize()
    gc.collect()
    gc.freeze()
    try:
        asyncio.run(serve_forever(app, host=host, port=port, announce=announce))
    except KeyboardInterrupt:
        click.echo("Sandbox stopped.", err=True)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None


if __name__ == "__main__":  # pragma: no cover
    main()
