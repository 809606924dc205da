"""After every attempt: health, 429s and the adaptive rate, fed to the pacer
(docs/design/sending.md).

The client calls `record` once per attempt with its status (None: no answer);
it returns why the run must stop, or None.

    accounting = Accounting(pacer, adaptive=AdaptiveRate(50.0), health=Health())
    reason = accounting.record(429)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pipeline.api.health import Health, Outage, counts_as_failure
from pipeline.api.rate.adaptive import AdaptiveRate
from pipeline.api.rate.pacer import Pacer

log = logging.getLogger(__name__)

UNHEALTHY = "the API keeps failing (most recent requests got 5xx or no answer)"
REFUSING = "the API keeps refusing requests (most recent got 403 or 429)"
TOKENS_REFUSED = (
    "the API keeps refusing live tokens: {refused} of the latest {seen} requests got a 401"
    " that token expiry cannot explain, each costing a retry or a login; check the API's"
    " status and that nothing else logs in with this account"
)


class Accounting:
    def __init__(
        self,
        pacer: Pacer,
        *,
        adaptive: AdaptiveRate | None,
        health: Health,
        outage: Outage | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pacer = pacer
        self.adaptive = adaptive
        self.health = health
        self.outage = outage or Outage(grace_s=0.0)
        self._clock = clock
        self.throttled = 0
        # Told of every change of the adaptive rate (the journal keeps it for `resume`).
        self.on_rate: Callable[[AdaptiveRate], None] | None = None

    def record(self, status: int | None, *, refused_tokens: int = 0) -> str | None:
        """Account one attempt; return the reason to stop the run, if there is one.

        `refused_tokens`: 401s this attempt showed expiry cannot explain (the client's
        `TokenRefusals`).
        """
        now = self._clock()
        self.outage.record(status, now)
        failed = counts_as_failure(status) or (status == 401 and refused_tokens > 0)
        if status == 429 and self.adaptive is not None:
            # A 429 the adaptive rate can still answer by slowing down is not a storm;
            # at its floor (or unpaced) nothing is left to adapt: it counts.
            failed = self.adaptive.current_per_s <= self.adaptive.floor_per_s
        unhealthy = self.health.record(failed=failed, refused_tokens=refused_tokens)
        reason = None
        if unhealthy and (failed or refused_tokens) and not self.outage.riding_out(now):
            storm = self.health.refusing_tokens()
            if storm is not None:
                reason = TOKENS_REFUSED.format(refused=storm[0], seen=storm[1])
            else:
                reason = UNHEALTHY if status is None or status >= 500 else REFUSING
        if self.adaptive is None:
            return reason
        if status == 429:
            self.throttled += 1
        new_rate = self.adaptive.on_answer(self._clock(), throttled=status == 429)
        if new_rate is not None:
            log.info("sending rate now %.2f requests/s", new_rate)
            self.pacer.set_rate(new_rate)
            if self.on_rate is not None:
                self.on_rate(self.adaptive)
        return reason
