"""What every command shares: option bundles, error translation, result display.

Library errors become `click.ClickException`s here (`library_errors`), and
nowhere else; secrets are scrubbed from every log line (`REDACTOR`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipeline.api.rate.spec import RATE_HELP, parse_rate
from pipeline.core.errors import OptionsError, QuivoBulkError, UsageError
from pipeline.core.outcomes import EXIT_STOPPED, EXIT_USAGE

if TYPE_CHECKING:
    from pipeline.config.jobfile import JobFile
    from pipeline.config.options import Options
    from pipeline.config.settings import Environment, RunOptions
    from pipeline.flows.run import RunResult

F = TypeVar("F", bound=Callable[..., Any])

ACTIONS = click.Choice(["update", "address", "cancel"], case_sensitive=False)
ADDRESS_TYPES = click.Choice(["DELIVERY", "INVOICE", "DELIVERY_AND_INVOICE"], case_sensitive=False)


class UsageFailure(click.ClickException):
    """The input, job or options could not be used: nothing was sent (exit 2)."""

    exit_code = EXIT_USAGE


class StoppedFailure(click.ClickException):
    """The run stopped early or could not finish its reports (exit 3)."""

    exit_code = EXIT_STOPPED


def check_rate(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--rate`: checked at once (exit 2 with the reason); passed on as written."""
    if value is not None:
        try:
            parse_rate(value)
        except OptionsError as error:
            raise click.BadParameter(str(error).removeprefix("--rate ")) from None
    return value


class Redactor(logging.Filter):
    """Replaces every known secret value in log records and messages with ***."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def scrub(self, text: str) -> str:
        from pipeline.config.settings import scrub

        return scrub(text, self.secrets)

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
    from pipeline.config.settings import read_environment
    from pipeline.core.errors import OptionsError

    try:
        env = read_environment()
    except OptionsError as error:
        raise fail(error) from None
    REDACTOR.secrets = env.credentials().secrets()
    warn_readable_env_file(Path(".env"))
    return env


def warn_readable_env_file(path: Path) -> None:
    """A `.env` holds credentials: warn when users other than its owner can read it."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        click.echo(
            f"warning: {path.resolve()} holds credentials and others can read it"
            f" (mode {stat.filemode(mode)}); make it the owner's only: chmod 600 {path.resolve()}",
            err=True,
        )


def input_options(fn: F) -> F:
    """Options shared by the commands that read input files."""
    decorators = [
        click.argument("inputs", nargs=-1, type=click.Path(path_type=Path)),
        click.option("--job", type=click.Path(path_type=Path), help="Job file (TOML)."),
        click.option("--action", type=ACTIONS, help="Action for rows without an action cell."),
        click.option(
            "--address-type",
            type=ADDRESS_TYPES,
            metavar="[DELIVERY|INVOICE|DELIVERY_AND_INVOICE]",  # as the docs spell them
            help="Address type for address rows without one (default DELIVERY).",
        ),
        click.option("--sheet", help="Excel sheet to read (default: the first)."),
        click.option(
            "--header-row",
            type=click.IntRange(min=1),
            help="The row that holds the column names (default: found below titles).",
        ),
        click.option(
            "--skip-hidden-rows",
            is_flag=True,
            default=None,
            help="Leave out rows hidden (filtered out) in a workbook.",
        ),
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
            "--rate", callback=check_rate, help=f"Requests per period (default 5/s): {RATE_HELP}."
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


def guard_options(fn: F) -> F:
    """Before-images and guards against a wrong file (docs/plan-apply-undo.md)."""
    decorators = [
        click.option(
            "--snapshot",
            type=click.Choice(["always", "changes", "never"]),
            help="Read orders before changing them: changes (default: update/address"
            " orders), always (cancels too), never.",
        ),
        click.option(
            "--max-changes",
            type=click.IntRange(min=0),
            help="Refuse (exit 2, nothing sent) to change more orders than this.",
        ),
        click.option(
            "--max-cancels",
            type=click.IntRange(min=0),
            help="Refuse (exit 2, nothing sent) to cancel more orders than this.",
        ),
        click.option(
            "--no-breaker",
            is_flag=True,
            help="Do not stop when most rows fail with order_not_found or rejected.",
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def confirm_again(message: str) -> bool:
    return click.confirm(f"{message}. Send it again?", default=False, err=True)


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


# The CLI's spellings of Options' names; the library never sees these.
CLI_SPELLINGS = {"timeout": "timeout_s", "yes": "assume_yes"}
NEGATED_FLAGS = {"no_refetch": "refetch", "no_breaker": "breaker"}
CLI_ONLY = frozenset({"log_format"})


def options_from_cli(params: Mapping[str, Any]) -> Options:
    """A command's click parameters as `Options`: a flag not given and an option left out
    are not given (None), `--no-refetch` is `refetch=False`, `--timeout` is `timeout_s`."""
    from pipeline.config.options import Options

    values: dict[str, Any] = {}
    for name, value in params.items():
        if name in CLI_ONLY or value is None or value is False:
            continue  # not given: a flag is False unless given
        if name in NEGATED_FLAGS:
            values[NEGATED_FLAGS[name]] = False
        else:
            values[CLI_SPELLINGS.get(name, name)] = value
    return Options(**values)


def resolve(
    params: Mapping[str, Any], job_path: Path | None, env: Environment | None
) -> tuple[JobFile | None, RunOptions]:
    """The job file named (if any) and the run's options: the command line's, over the job's."""
    from pipeline.config.jobfile import load_job
    from pipeline.config.settings import resolve_options
    from pipeline.store.ratememo import start_at_remembered

    job = load_job(job_path) if job_path else None
    options = resolve_options(options_from_cli(params), job=job, env=env)
    return job, start_at_remembered(options, job)


def remember_found_rate(job: Any, result: RunResult) -> None:
    """After a job's `--rate auto` run: keep the rate found as the job's next start."""
    from pipeline.store.ratememo import remember_rate

    if job is not None and (path := remember_rate(job, result.summary)) is not None:
        click.echo(f"rate found kept for the job's next run: {path}")


def input_paths(inputs: tuple[Path, ...], job: Any) -> list[Path]:
    if inputs:
        return list(inputs)
    if job is not None:
        paths: list[Path] = job.input_paths()
        if not paths:
            raise UsageFailure(f"the job's input {job.input!r} matches no file")
        return paths
    raise UsageFailure("name at least one input file (or a --job with an input)")


def job_run_dir(job: Any) -> Path | None:
    """A job's run goes under its `runs_dir` (relative to the job file), not the cwd."""
    if job is None:
        return None
    from pipeline.flows.run import default_run_dir

    run_dir: Path = default_run_dir(job.job_name, root=job.resolve(job.runs_dir))
    return run_dir


def confirm_cancels(orders: int, base_url: str) -> bool:
    return click.confirm(f"Cancel {orders} orders at {base_url}?", default=False, err=True)


def progress_for(quiet: bool) -> Callable[[int], Any]:
    from pipeline.send.progress import make_progress

    return lambda total: make_progress(total, interactive=None, quiet=quiet)


def cron_options(fn: F) -> F:
    """`--expected-failures` and `--log-format`, for the commands that send."""
    from pipeline.cli.logs import log_format_option

    fn = click.option(
        "--expected-failures",
        metavar="CODE,...",
        help="Rows failing with these errorCodes count as fine for the exit code"
        " (e.g. status_conflict,order_not_found); they stay in the reports.",
    )(fn)
    return log_format_option(fn)  # type: ignore[no-any-return]
