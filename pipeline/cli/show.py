"""How a finished run is shown: the summary table (or one JSON `summary` event), the
error groups, where the reports are, the next step, and the `run_finished` line.

    show_result(result)        # the table, the reports, "next: ..."
    announce_finished(result)  # {"event": "run_finished", ...} for monitoring
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli.common import REDACTOR
from pipeline.core.outcomes import TRANSIENT_ERROR_CODES, ErrorCode

if TYPE_CHECKING:
    from pipeline.core.manifest import RunSummary
    from pipeline.flows.run import RunResult


def next_step(summary: RunSummary, run_dir: Path) -> str | None:
    """What to do after this run (docs/reference/outputs.md), or None when nothing is left.

    Rows whose errorCode the run counts as expected (`--expected-failures`) are left
    out: the advice never has them sent again.
    """
    outcomes = summary.outcomes
    codes = summary.error_codes
    if summary.stopped:
        return f"finish the run with: quivo-bulk resume {run_dir}"
    expected = set(summary.expected_failures)
    to_fix = set(codes) - set(TRANSIENT_ERROR_CODES) - {ErrorCode.NOT_VERIFIED} - expected
    steps = []
    if outcomes.get("invalid") or to_fix:
        errors = run_dir / ("errors.xlsx" if (run_dir / "errors.xlsx").exists() else "errors.csv")
        step = f"fix the rows in {errors} and run it: quivo-bulk run {errors}"
        leave_out = {code: codes[code] for code in sorted(expected & set(codes))}
        if leave_out:
            rows = sum(leave_out.values())
            named = ", ".join(f"{code} ({count})" for code, count in leave_out.items())
            step += (
                f" (first delete its {rows} rows with errorCode {named}: expected, not to resend)"
            )
        steps.append(step)
    if (
        outcomes.get("unverified")
        or outcomes.get("not_attempted")
        or set(codes) & TRANSIENT_ERROR_CODES
    ):
        steps.append(f"send again what did not land: quivo-bulk rerun {run_dir}")
    return "; ".join(steps) or None


def announce_finished(result: RunResult) -> None:
    """The run's last line for monitoring, `{"event": "run_finished", ...}`: see
    docs/guide/nightly.md."""
    from pipeline.cli.logs import finished_line

    finished_line(
        "run_finished",
        command=result.summary.command,
        runDir=str(result.run_dir) if result.run_dir is not None else None,
        exitCode=result.exit_code,
        outcomes=result.summary.outcomes,
    )


def echo_warnings(warnings: Iterable[str]) -> None:
    """Print a run's or plan's warnings on stderr, each as `warning: ...`; notes (a
    synonym matched, a country name converted) come prefixed `note: ` already."""
    for warning in warnings:
        click.echo(warning if warning.startswith("note: ") else f"warning: {warning}", err=True)


def show_result(result: RunResult) -> None:
    """Print the warnings, the summary table and where the reports are (in JSON mode:
    one `summary` object instead of the table's lines)."""
    from rich.console import Console
    from rich.table import Table

    from pipeline.cli.logs import json_mode

    echo_warnings(result.warnings)
    summary = result.summary
    step = None if result.run_dir is None else next_step(summary, result.run_dir)
    if json_mode():
        show_summary_event(result, step)
        return
    table = Table(title=f"quivo-bulk {summary.command}: {summary.rows} rows")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    for outcome, count in summary.outcomes.items():
        table.add_row(outcome, str(count))
    for code, count in summary.error_codes.items():
        table.add_row(f"  {code}", str(count), style="dim")
    if summary.requests:
        table.add_section()
        table.add_row("requests", str(summary.requests))
        for kind, count in (summary.requests_by_kind or {}).items():
            if count:  # the before-image reads are visible next to the changes
                table.add_row(f"  {kind}", str(count), style="dim")
        if summary.requests_per_row:
            table.add_row("requests/row", f"{summary.requests_per_row:.2f}")
        table.add_row("retries", str(summary.retries))
        table.add_row("429 answers", str(summary.rate_limited))
        table.add_row("requests/s", f"{summary.achieved_requests_per_s:.1f}")
        rate = summary.rate
        if rate is not None and rate.auto and rate.found_per_s:
            table.add_row("rate found", f"{rate.found_per_s:.1f}/s")
        table.add_row("wall time", f"{summary.wall_time_s:.1f} s")
    console = Console(soft_wrap=True)
    console.print(table)
    for group in summary.error_groups:
        rows = ", ".join(map(str, group.rows))
        more = ", ..." if group.count > len(group.rows) else ""
        message = REDACTOR.scrub(group.message)[:160]
        click.echo(f"  {group.errorCode} ({group.count}): {message} (rows {rows}{more})")
    if result.run_dir is None:  # no run happened (a rerun with nothing to rerun)
        return
    click.echo(f"reports: {result.run_dir}")
    if summary.stopped:
        click.echo(f"stopped early: {REDACTOR.scrub(summary.stopped)}", err=True)
    if step:
        click.echo(f"next: {step}", err=bool(summary.stopped))


def show_summary_event(result: RunResult, step: str | None) -> None:
    """The summary as one JSON object on stdout: `{"event": "summary", ...}`."""
    import json

    summary = result.summary
    groups = [
        {**group.model_dump(), "message": REDACTOR.scrub(group.message)[:160]}
        for group in summary.error_groups
    ]
    fields = {
        "event": "summary",
        "command": summary.command,
        "rows": summary.rows,
        "outcomes": summary.outcomes,
        "errorCodes": summary.error_codes,
        "errorGroups": groups,
        "requests": summary.requests,
        "requestsByKind": summary.requests_by_kind or {},
        "retries": summary.retries,
        "rateLimited": summary.rate_limited,
        "requestsPerS": summary.achieved_requests_per_s,
        "wallTimeS": summary.wall_time_s,
        "reports": str(result.run_dir),
        "stopped": REDACTOR.scrub(summary.stopped) if summary.stopped else None,
        "next": step,
    }
    click.echo(json.dumps(fields, ensure_ascii=False, default=str))
