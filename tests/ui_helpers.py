"""Shared by the UI tests: the UI app served on loopback in a thread, against a sandbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.config.settings import Environment, RunOptions
from pipeline.sandbox import SandboxThread
from pipeline.ui.app import create_app
from pipeline.ui.pages import UiConfig
from pipeline.ui.security import new_token

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def running_ui(
    runs_dir: Path,
    *,
    options: RunOptions,
    env: Environment,
    max_upload_bytes: int = 10_000_000,
    jobs_dir: Path = Path("jobs"),
) -> Iterator[tuple[str, str]]:
    """Serve the UI on 127.0.0.1 (a free port); yield its base URL and token."""
    token = new_token()
    config = UiConfig(
        runs_dir=runs_dir,
        token=token,
        options=options,
        max_upload_bytes=max_upload_bytes,
        jobs_dir=jobs_dir,
    )
    with SandboxThread(create_app(config, env=env)) as thread:
        yield thread.base_url, token


async def read_preview(client: Any, url: str, name: str, *, timeout_s: float = 30.0) -> str:
    """The preview page of draft `name` once its orders were read (a background task)."""
    deadline = time.monotonic() + timeout_s
    while True:
        async with client.get(f"{url}/draft/{name}/preview") as answer:
            page = str(await answer.text())
        if 'id="progress"' not in page or time.monotonic() > deadline:
            return page
        await asyncio.sleep(0.1)
