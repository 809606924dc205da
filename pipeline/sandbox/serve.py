"""Serve the sandbox on loopback: in the current event loop, in a thread, or forever.

async with running_sandbox(create_app()) as base_url: ...
with SandboxThread(create_app()) as sandbox: run(..., base_url=sandbox.base_url)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType

from aiohttp import web

SHUTDOWN_TIMEOUT_S = 0.5


async def start_site(app: web.Application, *, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start `app` on host:port (0 picks a free port); return the runner and base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    shown_host = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown_host}:{bound_port}"


@asynccontextmanager
async def running_sandbox(
    app: web.Application, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Run `app` in this event loop for the duration of the block; yield its base URL."""
    runner, base_url = await start_site(app, host=host, port=port)
    try:
        yield base_url
    finally:
        await runner.cleanup()


class SandboxThread:
    """The sandbox in a thread with its own event loop, for synchronous callers (tests, CLI)."""

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._host, self._port = host, port
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="quivo-sandbox", daemon=True)
        self.base_url = ""
        self._error: BaseException | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            runner, self.base_url = await start_site(self.app, host=self._host, port=self._port)
        except BaseException as error:  # reported to the starting thread
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def call(self, fn: Callable[[], object]) -> None:
        """Run `fn` on the sandbox's loop thread and wait for it (to change state safely)."""
        done = threading.Event()

        def wrapper() -> None:
            try:
                fn()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(wrapper)
        done.wait()

    def __enter__(self) -> SandboxThread:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stop = self._stop
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout=10)


async def serve_forever(
    app: web.Application, *, host: str, port: int, announce: Callable[[str], None]
) -> None:
    """Serve until cancelled (Ctrl-C), calling `announce(base_url)` once listening."""
    runner, base_url = await start_site(app, host=host, port=port)
    announce(base_url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
