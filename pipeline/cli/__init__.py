"""The `quivo-bulk` command line: a thin click layer over the library.

Each command parses options, calls one library function, and turns the
library's `QuivoBulkError`s into one-line messages and exit codes (here and
nowhere else). Heavy imports (polars, aiohttp) happen inside the commands so
`quivo-bulk --help` starts fast.
"""

import gc
import logging

import click

from pipeline.cli.common import REDACTOR
from pipeline.cli.doctor import doctor
from pipeline.cli.logs import FORMATS, StderrHandler, configure_stderr
from pipeline.cli.plan import apply, plan, undo
from pipeline.cli.runs import followup, report, rerun, resume
from pipeline.cli.sandbox import demo, sandbox
from pipeline.cli.send import run, validate
from pipeline.cli.ui import ui


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="quivo-bulk")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="warning",
    show_default=True,
    help="How much to log on stderr.",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: timestamped lines without a terminal (cron); json: one JSON object per line.",
)
@click.pass_context
def main(ctx: click.Context, log_level: str, log_format: str) -> None:
    """Bulk changes to Quivo fulfillment orders: validate, send, verify, report.

    \b
    Exit codes: 0 all rows applied/duplicate/unchanged (or a clean dry run),
    1 some rows invalid/failed/unverified, 2 unusable input/job/options
    (nothing sent), 3 stopped early (API unusable, Ctrl-C).

    \b
    Without a terminal (cron) every stderr line starts with a UTC timestamp;
    each run ends with one JSON line {"event": "run_finished", ...}.

    \b
    Example:
      quivo-bulk run corrections.xlsx --action address --base-url http://127.0.0.1:8787
    """
    handler = StderrHandler()
    handler.addFilter(REDACTOR)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("pipeline")
    logger.handlers[:] = [handler]
    logger.setLevel(log_level.upper())
    configure_stderr(log_format)
    if _ONE_COMMAND_PROCESS and ctx.invoked_subcommand != "ui":
        from pipeline.plan.bulk import after_bulk_objects

        # Its row objects live until this process ends: keep collections from walking
        # them again (the technique of CPython's gc.freeze docs). Not for the UI, which
        # prepares many times in one process: frozen objects are never freed.
        after_bulk_objects(gc.freeze)


# True in the `quivo-bulk` process (entry), False when main is called in a library's
# process (tests' CliRunner, a notebook).
_ONE_COMMAND_PROCESS = False


def entry() -> None:
    """The `quivo-bulk` command: one command in its own process."""
    global _ONE_COMMAND_PROCESS
    _ONE_COMMAND_PROCESS = True
    main()


for command in (
    run,
    validate,
    plan,
    apply,
    undo,
    resume,
    rerun,
    report,
    followup,
    doctor,
    demo,
    sandbox,
    ui,
):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    entry()
