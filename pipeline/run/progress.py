"""Progress of a run: a rich bar on a terminal, a status line every few seconds otherwise.

with make_progress(total=3000, interactive=sys.stderr.isatty()) as progress:
    progress.request(); progress.rows([Outcome.APPLIED])
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TextIO

from pipeline.outcomes import SUCCESS, Outcome

STATUS_EVERY_S = 5.0


class Progress:
    """Counts rows and requests; subclasses show them. This base shows nothing."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.requests = 0
        self.outcomes: Counter[Outcome] = Counter()
        self.started = time.monotonic()
        self._halt: tuple[asyncio.AbstractEventLoop, Callable[[str], None]] | None = None

    def bind_halt(self, halt: Callable[[str], None]) -> None:
        """Called by the sender inside its event loop: what `stop` calls (as Ctrl-C does)."""
        self._halt = (asyncio.get_running_loop(), halt)

    def stop(self, reason: str) -> bool:
        """Stop the run's sending from any thread (the UI's Stop button); False if not sending."""
        if self._halt is None:
            return False
        loop, halt = self._halt
        try:
            loop.call_soon_threadsafe(halt, reason)
        except RuntimeError:  # the loop has closed: the run already ended
            return False
        return True

    def request(self) -> None:
        self.requests += 1

    def rows(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            self.outcomes[outcome] += 1
            self.done += 1
        self.refresh()

    @property
    def good(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome in SUCCESS)

    @property
    def bad(self) -> int:
        return self.done - self.good

    def rate_per_s(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.requests / elapsed if elapsed > 0 else 0.0

    def refresh(self) -> None:
        """Show the counts (called after every finished order)."""

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.refresh()


class StatusLines(Progress):
    """No terminal (cron, CI): one line every few seconds on stderr."""

    def __init__(self, total: int, *, stream: TextIO | None = None) -> None:
        super().__init__(total)
        self._stream = stream or sys.stderr  # sys.stderr now: the CLI may have stamped it
        self._last = time.monotonic()

    def refresh(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < STATUS_EVERY_S:
            return
        self._last = now
        self._stream.write(
            f"progress: {self.done}/{self.total} rows, {self.good} ok, {self.bad} not ok,"
            f" {self.requests} requests ({self.rate_per_s():.1f}/s)\n"
        )
        self._stream.flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.refresh(force=True)


class RichBar(Progress):
    """A terminal: rows done / total, requests per second, ok / not ok counts, ETA."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        super().__init__(total)
        self._bar = Bar(
            TextColumn("[bold]sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>6.1f} req/s"),
            TextColumn("[green]{task.fields[good]} ok[/] [red]{task.fields[bad]} not ok[/]"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._bar.add_task("rows", total=total, rate=0.0, good=0, bad=0)
        self._shown_at = 0.0

    def request(self) -> None:
        """Count a request; the bar's rate moves before the first row finishes (10/s at most)."""
        super().request()
        now = time.monotonic()
        if now - self._shown_at >= 0.1:
            self._shown_at = now
            self.refresh()

    def refresh(self) -> None:
        self._bar.update(
            self._task, completed=self.done, rate=self.rate_per_s(), good=self.good, bad=self.bad
        )

    def __enter__(self) -> Progress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.refresh()
        self._bar.stop()


def make_progress(total: int, *, interactive: bool | None, quiet: bool = False) -> Progress:
    """The display for this run: rich on a terminal, status lines otherwise, or nothing."""
    if quiet:
        return Progress(total)
    if interactive is None:
        interactive = sys.stderr.isatty()
    return RichBar(total) if interactive else StatusLines(total)
