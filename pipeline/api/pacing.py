"""Even pacing of every request at the run's rate, with a hard one-second bound (SPEC §5).

Two parts, because aiolimiter alone cannot do both:

- `AsyncLimiter(k, k / rate)` paces evenly at `rate`. Its bucket of `k >= 2`
  tokens absorbs timer wake-up lag: a waiter that wakes late finds the bucket
  already drained a little more, so the next one goes sooner and the lag is
  made up. With `k = 1` (`AsyncLimiter(1, 1/rate)`) lag is lost on every
  request and the achieved rate falls to ~94% of 200/s.
- A sliding log of send times enforces the contract: never more than `rate`
  requests in any window of one second (plus a small margin for arrival
  jitter at the server), which the bucket alone would exceed by k-1 after idle.

    pacer = Pacer(rate_per_s=50)   # build inside the running event loop
    await pacer.acquire()          # before every request, retries and logins included
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from aiolimiter import AsyncLimiter

WINDOW_S = 1.0
# Extra room on the one-second window so that network jitter between our send
# and the server's arrival stamp cannot squeeze rate+1 requests into its window.
WINDOW_MARGIN_S = 0.020
LAG_ABSORB_S = 0.02  # bucket depth in seconds of sending: the lag the limiter can make up


def window_wait_s(log: deque[float], now: float, *, cap: int, window_s: float) -> float:
    """Seconds until one more send keeps <= `cap` sends in every window of `window_s`.

    `log` holds earlier send times, oldest first; entries older than the window
    are dropped from it.
    """
    while log and now - log[0] >= window_s:
        log.popleft()
    excess = len(log) - cap + 1
    if excess <= 0:
        return 0.0
    return max(0.0, log[excess - 1] + window_s - now)


class Pacer:
    """Paces requests at `rate_per_s` (None: unpaced); the rate can change while running."""

    def __init__(self, rate_per_s: float | None) -> None:
        self._log: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.rate_per_s = rate_per_s
        self._limiter = self._build(rate_per_s)

    @staticmethod
    def _build(rate_per_s: float | None) -> AsyncLimiter | None:
        if rate_per_s is None:
            return None
        depth = max(2.0, math.ceil(rate_per_s * LAG_ABSORB_S))
        return AsyncLimiter(depth, depth / rate_per_s)

    def set_rate(self, rate_per_s: float) -> None:
        """Change the rate; requests already waiting finish at the old pace."""
        self.rate_per_s = rate_per_s
        self._limiter = self._build(rate_per_s)

    async def acquire(self) -> None:
        limiter, rate = self._limiter, self.rate_per_s
        if limiter is None or rate is None:
            return
        await limiter.acquire()
        loop = asyncio.get_running_loop()
        cap = max(1, math.floor(rate))
        async with self._lock:
            wait_s = window_wait_s(
                self._log, loop.time(), cap=cap, window_s=WINDOW_S + WINDOW_MARGIN_S
            )
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self._log.append(loop.time())
