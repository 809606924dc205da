"""Progress of a run: a rich bar on a terminal, a status line every few seconds otherwise.

Without a terminal a status line comes at least every `STATUS_EVERY_S` seconds (every
`QUIET_STATUS_EVERY_S` with `--quiet`) while the run sends, also when no row finishes
(the API down, long retries): a log read the morning after shows the run was alive.
With `--log-format json` each is one `{"event": "progress", ...}` object.

with make_progress(total=3000, interactive=sys.stderr.isatty()) as progress:
    progress.request(); progress.rows([Outcome.APPLIED])
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TextIO

from pipeline.core.outcomes import SUCCESS, Outcome

STATUS_EVERY_S = 5.0
QUIET_STATUS_EVERY_S = 60.0
# Tests replaying cron nights set this (seconds) instead of waiting a minute per line.
EVERY_S_VARIABLE = "QUIVO_PROGRESS_EVERY_S"
RATE_WINDOW_S = 5.0  # the displayed request rate: requests sent in the last 5 s
ETA_ALPHA = 0.3  # weight of the newest 1 s sample in the smoothed row rate (EWMA)


class Progress:
    """Counts rows and requests; subclasses show them. This base shows nothing."""

    def __init__(self, total: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.done = 0
        self.requests = 0
        self.outcomes: Counter[Outcome] = Counter()
        self._clock = clock
        self.started = clock()
        # Send times of the latest requests: the displayed rate is over a sliding window.
        self._recent: deque[float] = deque()
        self._first_sent: float | None = None
        self._last_sent: float | None = None
        self._row_rate_per_s: float | None = None  # smoothed (EWMA), for the ETA
        self._rows_at: tuple[float, int] = (self.started, 0)
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
        now = self._clock()
        self._recent.append(now)
        if self._first_sent is None:
            self._first_sent = now
        self._last_sent = now
        while self._recent and now - self._recent[0] > RATE_WINDOW_S:
            self._recent.popleft()

    def rows(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            self.outcomes[outcome] += 1
            self.done += 1
        self._smooth_row_rate()
        self.refresh()

    def _smooth_row_rate(self) -> None:
        """Rows per second, an exponentially weighted moving average over 1 s samples."""
        now = self._clock()
        since, done_then = self._rows_at
        if now - since < 1.0:
            return
        sample = (self.done - done_then) / (now - since)
        previous = self._row_rate_per_s
        self._row_rate_per_s = (
            sample if previous is None else ETA_ALPHA * sample + (1 - ETA_ALPHA) * previous
        )
        self._rows_at = (now, self.done)

    def eta_s(self) -> float | None:
        """Seconds left at the smoothed row rate; None until there is one."""
        rate = self._row_rate_per_s
        if not rate:
            return None
        return (self.total - self.done) / rate

    @property
    def good(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome in SUCCESS)

    @property
    def bad(self) -> int:
        return self.done - self.good

    def rate_per_s(self) -> float:
        """Requests per second over the last RATE_WINDOW_S seconds (at most `--rate`: the
        requests are counted as they leave the pacer)."""
        now = self._clock()
        while self._recent and now - self._recent[0] > RATE_WINDOW_S:
            self._recent.popleft()
        if now - self.started < 1.0 or len(self._recent) < 2:
            return 0.0
        # n requests span n - 1 intervals: counting n over the span would show 10.5/s
        # for 21 requests two seconds apart at --rate 10.
        return (len(self._recent) - 1) / (now - self._recent[0])

    def average_rate_per_s(self) -> float:
        """Requests per second from the first request to the last (the run's, once over)."""
        first, last = self._first_sent, self._last_sent
        if first is None or last is None or last <= first:
            return 0.0
        return (self.requests - 1) / (last - first)

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
        self.finish()

    def finish(self) -> None:
        """Show the last counts once the run is over (the display's own way to end)."""
        self.refresh()


class StatusLines(Progress):
    """No terminal (cron, CI): a line on stderr every `every_s` seconds while the run
    sends, also when no row finishes (a timer thread writes it then)."""

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        every_s: float = STATUS_EVERY_S,
        last_line: bool = True,
    ) -> None:
        super().__init__(total)
        self._stream = stream or sys.stderr  # sys.stderr now: the CLI may have stamped it
        self.every_s = every_s
        self._last_line = last_line  # the run's average at the end (not with --quiet)
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._over = threading.Event()
        self._timer: threading.Thread | None = None

    def __enter__(self) -> Progress:
        self._timer = threading.Thread(target=self._keep_alive, name="progress", daemon=True)
        self._timer.start()
        return self

    def _keep_alive(self) -> None:
        while not self._over.wait(max(0.01, self._last + self.every_s - time.monotonic())):
            self.refresh()

    def refresh(self, *, force: bool = False, rate: str | None = None) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last < self.every_s:
                return
            self._last = now
            self._write(rate or f"{self.rate_per_s():.1f}/s")

    def _write(self, rate: str) -> None:
        if getattr(self._stream, "json_lines", False):
            line = json.dumps(
                {
                    "event": "progress",
                    "rowsDone": self.done,
                    "rows": self.total,
                    "ok": self.good,
                    "notOk": self.bad,
                    "requests": self.requests,
                    "rate": rate,
                }
            )
        else:
            line = (
                f"progress: {self.done}/{self.total} rows, {self.good} ok, {self.bad} not ok,"
                f" {self.requests} requests ({rate})"
            )
        self._stream.write(line + "\n")
        self._stream.flush()

    def finish(self) -> None:
        self._over.set()
        if self._timer is not None:
            self._timer.join()
        if not self._last_line:
            return
        # The run is over: its average rate, not the last seconds' (0.0/s after a pause,
        # or for a run shorter than a second).
        self.refresh(force=True, rate=f"{self.average_rate_per_s():.1f}/s on average")


class RichBar(Progress):
    """A terminal: rows done / total, requests per second, ok / not ok counts, ETA."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
        )
        from rich.progress import Progress as Bar

        super().__init__(total)
        self._bar = Bar(
            TextColumn("[bold]sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>6.1f} req/s"),
            TextColumn("[green]{task.fields[good]} ok[/] [red]{task.fields[bad]} not ok[/]"),
            TextColumn("ETA {task.fields[eta]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._bar.add_task("rows", total=total, rate=0.0, good=0, bad=0, eta="-")
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
            self._task,
            completed=self.done,
            rate=self.rate_per_s(),
            good=self.good,
            bad=self.bad,
            eta=format_eta(self.eta_s()),
        )

    def __enter__(self) -> Progress:
        self._bar.start()
        return self

    def finish(self) -> None:
        self.refresh()
        self._bar.stop()


def make_progress(total: int, *, interactive: bool | None, quiet: bool = False) -> Progress:
    """The display for this run: rich on a terminal, status lines otherwise (with
    `quiet`: one a minute), nothing with `quiet` on a terminal."""
    if interactive is None:
        interactive = sys.stderr.isatty()
    if interactive:
        return Progress(total) if quiet else RichBar(total)
    return StatusLines(total, every_s=status_every_s(quiet=quiet), last_line=not quiet)


def status_every_s(*, quiet: bool) -> float:
    """Seconds between status lines without a terminal (the variable overrides it)."""
    given = os.environ.get(EVERY_S_VARIABLE)
    if given:
        try:
            return max(0.05, float(given))
        except ValueError:
            pass
    return QUIET_STATUS_EVERY_S if quiet else STATUS_EVERY_S


def format_eta(seconds: float | None) -> str:
    """`1:05:09`, `4:05`, or `-` while there is no estimate yet."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
