"""Ctrl-C and SIGTERM during a run: stop sending, write the reports; twice: quit at once.

The first signal stops the run from sending anything new; requests already sent
get up to FINISH_GRACE_S to answer, and an order whose change was answered is
refetched, so its row gets its real outcome instead of "may have landed".

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

FINISH_GRACE_S = 5.0  # how long requests in flight at an interrupt may take to finish


def finish_grace_s(client: QuivoClient) -> float:
    """The executor's grace after a stop: FINISH_GRACE_S after an interrupt, else none."""
    return FINISH_GRACE_S if client.finishing else 0.0


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
        client.interrupt("interrupted (Ctrl-C or SIGTERM)")
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
