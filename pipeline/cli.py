"""The `quivo-bulk` command line: a thin click layer over the library.

Each command parses options, calls one library function, and turns the
library's `QuivoBulkError`s into one-line messages and exit codes. Heavy
imports (polars, aiohttp) happen inside the commands so `--help` is fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from pipeline.errors import QuivoBulkError, UsageError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_ROWS_FAILED, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3


class UsageFailure(click.ClickException):
    """The input, job or options could not be used: nothing was sent (exit 2)."""

    exit_code = EXIT_USAGE


class StoppedFailure(click.ClickException):
    """The run stopped early or could not finish its reports (exit 3)."""

    exit_code = EXIT_STOPPED


def fail(error: QuivoBulkError) -> click.ClickException:
    """Translate a library error into a click error with the contract's exit code."""
    if isinstance(error, UsageError):
        return UsageFailure(str(error))
    return StoppedFailure(str(error))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="quivo-bulk")
def main() -> None:
    """Bulk changes to Quivo fulfillment orders: validate, send, verify, report.

    \b
    Example:
      quivo-bulk run corrections.xlsx --action address --out runs/today
    """


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
    from pathlib import Path

    from pipeline.sandbox import SandboxConfig, create_app, load_orders
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
    try:
        asyncio.run(serve_forever(app, host=host, port=port, announce=announce))
    except KeyboardInterrupt:
        click.echo("Sandbox stopped.", err=True)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None


@main.command()
def demo() -> None:
    """Start an in-process sandbox and show it answering a login and a refetch.

    \b
    Example:
      quivo-bulk demo
    """
    import asyncio
    from pathlib import Path

    import aiohttp

    from pipeline.sandbox import create_app, load_orders, running_sandbox

    async def show() -> None:
        app = create_app(orders=load_orders(Path("sample_data/sandbox_orders.jsonl")))
        async with running_sandbox(app) as base_url, aiohttp.ClientSession() as session:
            click.echo(f"Sandbox listening on {base_url}")
            headers = {"X-Api-Key": "sandbox-key"}
            credentials = {"username": "sandbox", "password": "sandbox"}
            async with session.post(f"{base_url}/login", json=credentials, headers=headers) as r:
                click.echo(f"POST /login -> {r.status}")
                headers["Authorization"] = (await r.json())["token"]
            async with session.post(f"{base_url}/orders/4100001/refetch", headers=headers) as r:
                order = await r.json()
                click.echo(
                    f"POST /orders/4100001/refetch -> {r.status}: status {order['orderStatus']},"
                    f" {order['deliveryAddress']['city']}, {len(await r.read())} bytes"
                )

    asyncio.run(show())


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
