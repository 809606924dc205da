"""`sandbox` and `demo`: the fake Quivo API and the sample jobs against it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.cli.common import library_errors
from pipeline.cli.show import show_result

UI_HINT = (
    "In a browser: `quivo-bulk ui` serves the same steps as pages on 127.0.0.1"
    " (upload, fix cells in a grid, preview, send, results, undo)."
)


@click.command()
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
    click.echo(UI_HINT)


@click.command()
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
    "complete=0.05,refuse_token=0.3' (refuse_token: a share of requests whose live token"
    " is refused with 401).",
)
@click.option(
    "--auth-scheme",
    type=click.Choice(["raw", "bearer"]),
    default="raw",
    show_default=True,
    help="How the token must be sent: 'Authorization: <token>' or 'Bearer <token>'.",
)
@click.option(
    "--token-field",
    default="token",
    show_default=True,
    help="Key of the login answer that holds the token (dotted path: nested).",
)
@click.option(
    "--no-get-order",
    is_flag=True,
    help="Do not serve GET /orders/{id} (only the refetch reads one order).",
)
@click.option(
    "--cancel-status",
    type=click.IntRange(200, 299),
    default=204,
    show_default=True,
    help="Status of an accepted cancelRequest.",
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
    auth_scheme: str,
    token_field: str,
    no_get_order: bool,
    cancel_status: int,
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
      quivo-bulk sandbox --auth-scheme bearer --token-field accessToken --no-get-order
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
        auth_scheme=auth_scheme,  # type: ignore[arg-type]  # click.Choice guarantees the literal
        token_field=token_field,
        get_order=not no_get_order,
        cancel_status=cancel_status,
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
