"""`ui`: the browser UI on loopback (docs/guide/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline.cli.common import api_options, environment, library_errors, options_from_cli


@click.command()
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port (default: a free one)."
)
@click.option("--no-browser", is_flag=True, help="Print the URL; do not open a browser.")
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Where runs are written and listed.",
)
@click.option(
    "--max-upload-mb",
    type=click.IntRange(1, 4096),
    default=100,
    show_default=True,
    help="Largest upload accepted.",
)
@api_options
@library_errors
def ui(port: int, no_browser: bool, runs_dir: Path, max_upload_mb: int, **cli: Any) -> None:
    """Serve the browser UI on 127.0.0.1 and open it.

    It prints a URL with a one-time token; the page then keeps it in a cookie.
    Credentials come from the environment or .env, as for `run`; the page never
    sees them. Ctrl-C stops it.

    \b
    Example:
      quivo-bulk ui --port 8800 --no-browser --runs-dir runs
    """
    from pipeline.config.settings import resolve_options
    from pipeline.ui.pages import UiConfig
    from pipeline.ui.security import new_token
    from pipeline.ui.serve import serve_ui

    env = environment()
    config = UiConfig(
        runs_dir=runs_dir,
        token=new_token(),
        options=resolve_options(options_from_cli(cli), env=env),
        max_upload_bytes=max_upload_mb * 1024 * 1024,
    )

    def announce(url: str) -> None:
        click.echo(f"quivo-bulk ui: open {url}  (Ctrl-C to stop)", err=False)
        click.echo(f"runs are written under {runs_dir}/; the API is {config.options.api.base_url}")

    serve_ui(config, env=env, port=port, announce=announce, open_browser=not no_browser)
