"""`doctor`: check the configured API against the API profile without changing anything."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import REDACTOR, environment, library_errors, resolve


@click.command()
@click.option("--base-url", help="API base URL (https, or http on loopback).")
@click.option("--order", "order_id", type=click.IntRange(min=1), help="Also refetch this order.")
@click.option("--job", type=click.Path(path_type=Path), help="Use this job file's [api] table.")
@library_errors
def doctor(base_url: str | None, order_id: int | None, job: Path | None) -> None:
    """Check the API read-only: login, token field, auth scheme, reads, latency.

    Prints one line per check (ok / differs / failed) with the profile setting
    to change where the API differs. Sends no change: a login, GET requests,
    and with --order one refetch. Exit 0: all as assumed; 1: a setting must
    change; 2: no credentials or an unusable setting; 3: the API cannot be
    reached or the login fails.

    \b
    Examples:
      quivo-bulk doctor
      quivo-bulk doctor --base-url http://127.0.0.1:8787 --order 4100001
    """
    import asyncio

    from pipeline.api.doctor import diagnose

    env = environment()
    _, options = resolve({"base_url": base_url}, job, env)
    credentials = env.credentials()
    credentials.check()
    click.echo(f"doctor: {options.api.base_url}")
    report = asyncio.run(diagnose(options.api, credentials, order_id=order_id))
    for line in report.lines():
        click.echo(REDACTOR.scrub(line))
    raise SystemExit(report.exit_code)
