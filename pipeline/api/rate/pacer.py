"""Even pacing of every request at the run's rate, with a hard bound per period
(docs/design/sending.md).

Two parts, one request at a time under a lock:

- GCRA (the generic cell rate algorithm, as in aiometer's rate meter) spaces
  sends `1/rate` apart on a grid. A send that wakes up late keeps the grid
  (the next one goes sooner) as long as it is less than `LAG_ABSORB_S`
  behind, so timer lag is made up instead of lost: at 200/s, dropping the
  grid after every late wake-up loses ~6% of the rate. The rate can change
  at any moment without a burst: the grid simply continues at the new
  spacing. (aiolimiter's bucket cannot be re-rated; a new limiter starts
  full and lets a burst through at every change of an adaptive rate.)
- A log of recent send times enforces the contract: never more than `count`
  requests in any window of `period_s` (plus a small margin for arrival
  jitter at the server).

A rate is a count per period, so a fractional rate loses nothing to rounding:
2.5/s is 5 per 2 s, not 2 per second. When the period is longer than a
second, a second bound keeps every one-second window within ceil(rate).

    pacer = Pacer(50)                    # build inside the running event loop
    pacer = Pacer(100 / 60, period_s=60) # 100/min
    await pacer.acquire()                # before every request, retries and logins included

Time comes from a `Clock`: the running event loop's (`LoopClock`, the default)
or, in tests, one that moves only when the pacer sleeps, so a thousand sends at
50/s take no wall-clock time and no global `asyncio.sleep` is patched.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# Requests in flight whose stamp may still move: the log keeps this many more than its caps.
RESTAMP_ROOM = 64
# Extra room on each window so that delays between our send and the server's arrival
# stamp cannot squeeze count+1 requests into its window. It costs margin/period of the
# rate: 2% at 20 ms on a one-second period. 99% of the rate would need < 10 ms, but on
# the 2-core project machine arrivals at the sandbox were seen up to 17 ms late
# (`python -m tests.benchmarks.trace_window 50 1500 --cli`), which put 52 requests
# into one second at 50/s with a 9 ms margin: the bound comes first.
WINDOW_MARGIN_S = 0.020
LAG_ABSORB_S = 0.02  # how far behind its grid a send may be and still keep it


class Clock(Protocol):
    """Where the pacer reads the time and waits: seconds on one monotonic scale."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock (loop.time(), which is time.monotonic) and
    asyncio.sleep: the clock the transport moves stamps on."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def window_wait_s(log: Sequence[float], now: float, *, cap: int, window_s: float) -> float:
    """Seconds until one more send keeps <= `cap` sends in every window of `window_s`.

    `log` holds earlier send times, oldest first: the send `cap` places back
    must leave the window first.
    """
    if len(log) < cap:
        return 0.0
    return max(0.0, log[-cap] + window_s - now)


@dataclass(slots=True)
class SendStamp:
    """When a request left: set by the pacer, moved later by the transport once the
    request's headers are really written (after a new connection is made)."""

    at: float


def next_slot(previous_slot: float, sent_at: float, *, interval_s: float) -> float:
    """GCRA: the earliest time of the next send after one at `sent_at`.

    The grid continues from `previous_slot` unless the send was more than
    LAG_ABSORB_S behind it (after idle time): then it restarts from the send.
    """
    return max(previous_slot, sent_at - LAG_ABSORB_S) + interval_s


def bounds_for(count: int, period_s: float) -> list[tuple[int, float]]:
    """The (cap, window) pairs a rate of `count` per `period_s` must keep."""
    result = [(count, period_s)]
    if period_s > 1:
        result.append((math.ceil(count / period_s - 1e-9), 1.0))
    return result


class Pacer:
    """Paces requests at `rate_per_s` (None: unpaced); the rate can change while running.

    The configured rate is also a ceiling: its bounds hold whatever rate is set later.
    """

    def __init__(
        self, rate_per_s: float | None, *, period_s: float = 1.0, clock: Clock | None = None
    ) -> None:
        self.clock: Clock = LoopClock() if clock is None else clock
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._log: deque[SendStamp] = deque()
        self._slot = -math.inf
        self.configure(rate_per_s, period_s=period_s)

    def configure(self, rate_per_s: float | None, *, period_s: float = 1.0) -> None:
        """Take a new configured rate (and ceiling), keeping the record of earlier sends.

        The next send is still checked against the sends made under the old rate, so
        a pacer that goes on with other settings (the next file of a sweep) cannot burst.
        """
        self._ceiling_rate = (rate_per_s, period_s)
        self._ceiling: list[tuple[int, float]] = []
        if rate_per_s is not None:
            self._ceiling = bounds_for(round(rate_per_s * period_s), period_s)
        self._bounds: list[tuple[int, float]] = []
        self.rate_per_s: float | None = None
        self.period_s = period_s
        self._apply(rate_per_s, period_s)

    def _apply(self, rate_per_s: float | None, period_s: float) -> None:
        self.rate_per_s, self.period_s = rate_per_s, period_s
        if rate_per_s is None:
            self._bounds = []
            return
        self._bounds = [*self._ceiling, *bounds_for(round(rate_per_s * period_s), period_s)]
        self._log = deque(self._log, maxlen=RESTAMP_ROOM + max(cap for cap, _ in self._bounds))

    def set_rate(self, rate_per_s: float) -> None:
        """Change the rate from the next send on (the adaptive rate's changes).

        Sends stay `1/rate` apart and no second holds more than ceil(rate): 1.8/s
        is sent as 1.8/s, not rounded down to 1 per second. The bound is over one
        second, not a longer period: a longer window would count the sends made
        at the old rate and stop the run for seconds after a decrease.
        """
        ceiling_per_s, ceiling_period_s = self._ceiling_rate
        if ceiling_per_s is not None and rate_per_s >= ceiling_per_s:
            self._apply(ceiling_per_s, ceiling_period_s)
            return
        self.rate_per_s, self.period_s = rate_per_s, 1.0
        self._bounds = [*self._ceiling, (math.ceil(rate_per_s - 1e-9), 1.0)]
        self._log = deque(self._log, maxlen=RESTAMP_ROOM + max(cap for cap, _ in self._bounds))

    def _lock_in(self, loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
        """The lock for sends from `loop`. An asyncio lock binds to one event loop, while
        the pacer's state (send times on its clock, by default time.monotonic) outlives
        it: the runs of a sweep, each under its own loop, share one pacer, one at a time."""
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def acquire(self) -> SendStamp | None:
        """Wait for this request's turn; return its stamp (None: unpaced).

        Give the stamp to the transport: a request that leaves later than its turn
        (a new connection first) moves its stamp, and later windows count from there.
        """
        if self.rate_per_s is None:
            return None
        loop = asyncio.get_running_loop()
        clock = self.clock
        async with self._lock_in(loop):  # one send at a time: waiting here keeps the order
            wait_s = self._slot - clock.now()
            if wait_s > 0:
                await clock.sleep(wait_s)
            # Stamps only ever move later, so the log is nearly sorted: sorting it is cheap.
            times = sorted(stamp.at for stamp in self._log)
            now = clock.now()
            wait_s = max(
                window_wait_s(times, now, cap=cap, window_s=window_s + WINDOW_MARGIN_S)
                for cap, window_s in self._bounds
            )
            if wait_s > 0:
                await clock.sleep(wait_s)
            stamp = SendStamp(clock.now())
            self._log.append(stamp)
            rate = self.rate_per_s
            if rate is not None:
                self._slot = next_slot(self._slot, stamp.at, interval_s=1 / rate)
            return stamp


async def turn_unless_stopped(pacer: Pacer, stop: asyncio.Event) -> SendStamp | None:
    """`pacer.acquire()`, given up when `stop` is set first: then None, and no turn taken.

    After Ctrl-C the requests that will not be sent must not use up the pacer's turns
    while the refetches of answered changes wait behind them (at --rate 2, twelve queued
    requests held them past the 5 s grace). A wait given up logs no stamp and moves no
    slot: the acquire is cancelled before it got its turn.
    """
    if stop.is_set() or pacer.rate_per_s is None:  # unpaced: no turn to wait for
        return None
    turn = asyncio.ensure_future(pacer.acquire())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({turn, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not turn.done():
            turn.cancel()
    return turn.result() if turn.done() and not turn.cancelled() else None
