"""Ctrl-C and SIGTERM during a run: stop sending, write the reports; twice: quit at once.

with stop_on_signals(client): ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator

from pipeline.api.client import QuivoClient

log = logging.getLogger(__name__)


@contextlib.contextmanager
def stop_on_signals(client: QuivoClient) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM): stop sending and write the reports. Second: quit at once."""
    loop = asyncio.get_running_loop()
    presses = 0

    def on_signal(signum: int) -> None:
        nonlocal presses
        presses += 1
        if presses > 1:
            os._exit(130)  # the journal is committed per group: WAL keeps it consistent
        # The hint goes out now, once: the halt reason ends up in the reports and the
        # final lines, where "press Ctrl-C again" would be read after the run ended.
        client.halt("interrupted (Ctrl-C or SIGTERM)")
        if signum == signal.SIGINT:
            log.warning("finishing the requests in flight; press Ctrl-C again to quit at once")

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (e.g. a notebook worker): no handler
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
