"""Serve the UI on 127.0.0.1 until Ctrl-C; print (and open) its tokened URL.

serve_ui(config, env=Environment(), port=0, announce=print, open_browser=True)
"""

from __future__ import annotations

import asyncio
import contextlib
import webbrowser
from collections.abc import Callable

from aiohttp import web

from pipeline.config.settings import Environment
from pipeline.ui.app import create_app
from pipeline.ui.pages import UiConfig

HOST = "127.0.0.1"  # loopback only, never configurable (docs/guide/operations.md)


def start_url(base_url: str, token: str) -> str:
    """The URL a person opens once: the token moves into a cookie at the first request."""
    return f"{base_url}/?token={token}"


async def _serve(
    config: UiConfig,
    *,
    env: Environment,
    port: int,
    announce: Callable[[str], None],
    open_browser: bool,
) -> None:
    runner, base_url = await start_site(create_app(config, env=env), host=HOST, port=port)
    url = start_url(base_url, config.token)
    announce(url)
    if open_browser:
        await asyncio.to_thread(webbrowser.open, url)
    try:
        await asyncio.Event().wait()  # until Ctrl-C cancels this task
    finally:
        await runner.cleanup()


def serve_ui(
    config: UiConfig,
    *,
    env: Environment,
    port: int,
    announce: Callable[[str], None],
    open_browser: bool,
) -> None:
    """Serve until Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _serve(config, env=env, port=port, announce=announce, open_browser=open_browser)
        )


async def start_site(app: web.Application, *, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start `app` on host:port (0 picks a free port); return the runner and base URL.
    (The sandbox has its own: it shares no code with the client's side.)"""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, f"http://{host}:{runner.addresses[0][1]}"
