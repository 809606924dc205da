"""Adaptive sending rate: find the server's limit, back off on 429, settle below it
(docs/design/sending.md, docs/rates.md).

A loss-based controller on requests per second: CUBIC (RFC 9438), as the AWS
SDKs' adaptive retry mode uses it for request rates, with a settle phase
below the limit it found. Its numbered rules, applied in
`AdaptiveRate.on_answer`:

1. The rate stays between `floor_per_s` and the ceiling: the configured rate
   (fixed mode) or auto's MAX, never exceeded.
2. Start at `start_per_s`: the ceiling in fixed mode; in auto mode the safe
   default or the rate a job found last time. Until the first 429, double
   the rate every `probe_double_s` (slow start). A run that continues a
   limit already found (`known_limit_per_s`: `resume` of an auto run) skips
   slow start: it starts at settle x that limit, in rule 7's hold.
3. Keep the answers that were not 429 for one second: the accepted rate.
   The record is trimmed on every answer, so it holds one second's answers.
4. A 429 within `cooldown_s` of the last decrease is ignored: it answers a
   request sent at the old rate.
5. Otherwise the limit found is W = min(rate, accepted rate); drop to beta x W
   and start a new epoch (CUBIC's multiplicative decrease).
6. After a 429, climb back on CUBIC's concave curve
   W + C (t - K)^3, K = cbrt(W (1 - beta) / C), t seconds since the epoch,
   but only to `settle` x W: just below the limit found.
7. Stay there for `hold_s`, then probe above it on the convex curve
   settle x W + C (t - K - hold_s)^3: a server whose limit rose is found again.
8. Never raise the rate above twice the accepted rate (as the AWS SDK caps
   it at twice the measured rate): growth follows what the server takes.
9. Report a change only when it moves the rate by 1% or more (every
   decrease is reported), so the pacer is not rebuilt for every answer.

    rate = AdaptiveRate(ceiling_per_s=50, start_per_s=5)   # --rate auto
    rate = AdaptiveRate(ceiling_per_s=50, known_limit_per_s=20)  # resume: hold 19.4/s
    rate.on_answer(now, throttled=False)  # -> the new rate, or None
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from pipeline.api.settings import DEFAULT_RATE_PER_S, ApiSettings

DEFAULT_START_PER_S = DEFAULT_RATE_PER_S  # auto starts at the safe default


def cubic_per_s(
    *, limit_per_s: float, since_s: float, beta: float, c: float, settle: float, hold_s: float
) -> float:
    """Rules 6 and 7: the rate `since_s` seconds after a decrease from `limit_per_s`."""
    k_s = math.cbrt(limit_per_s * (1 - beta) / c)
    settled = settle * limit_per_s
    if since_s < k_s:
        return min(settled, limit_per_s + c * (since_s - k_s) ** 3)
    if since_s < k_s + hold_s:
        return settled
    return settled + c * (since_s - k_s - hold_s) ** 3


def slow_start_per_s(*, start_per_s: float, since_s: float, double_s: float) -> float:
    """Rule 2: before the first 429 the rate doubles every `double_s`."""
    return float(start_per_s * 2 ** (since_s / double_s))


@dataclass
class AdaptiveRate:
    ceiling_per_s: float
    start_per_s: float | None = None  # None: start at the ceiling (fixed mode)
    known_limit_per_s: float | None = None  # W found by an earlier session (rule 2)
    floor_per_s: float = 0.5
    beta: float = 0.7
    c: float = 0.4
    settle: float = 0.97
    hold_s: float = 15.0
    probe_double_s: float = 1.0
    cooldown_s: float = 1.0
    current_per_s: float = field(init=False)
    found_per_s: float | None = field(init=False, default=None)  # W of the last decrease
    _started: float | None = field(init=False, default=None)
    _epoch: float | None = field(init=False, default=None)
    _reported: float = field(init=False)
    _accepted: deque[float] = field(init=False, default_factory=deque)

    def __post_init__(self) -> None:
        start = self.ceiling_per_s if self.start_per_s is None else self.start_per_s
        if self.known_limit_per_s is not None:
            self.found_per_s = self.known_limit_per_s
            start = self.settle * self.known_limit_per_s
        self.current_per_s = self._bounded(start)  # rules 1, 2
        self._reported = self.current_per_s

    def _k_s(self, limit_per_s: float) -> float:
        return math.cbrt(limit_per_s * (1 - self.beta) / self.c)

    @property
    def answered(self) -> bool:
        """Has it been fed an answer yet?"""
        return self._started is not None

    def _bounded(self, rate: float) -> float:
        return max(self.floor_per_s, min(self.ceiling_per_s, rate))

    def accepted_last_second(self, now: float) -> int:
        while self._accepted and now - self._accepted[0] >= 1.0:
            self._accepted.popleft()  # rule 3: the record holds one second
        return len(self._accepted)

    def settled_per_s(self) -> float:
        """The rate to remember for the next run: just below the limit found."""
        if self.found_per_s is None:
            return self.current_per_s
        return self._bounded(self.settle * self.found_per_s)

    def on_answer(self, now: float, *, throttled: bool) -> float | None:
        """Feed one answer; return the new rate when it changed, else None."""
        if self._started is None:
            self._started = now
            if self.known_limit_per_s is not None:  # rule 2: continue in rule 7's hold
                self._epoch = now - self._k_s(self.known_limit_per_s)
        accepted = self.accepted_last_second(now)
        if throttled:
            if self._epoch is not None and now - self._epoch < self.cooldown_s:
                return None  # rule 4
            limit = min(self.current_per_s, accepted) if accepted else self.current_per_s / 2
            self.found_per_s = limit
            self._epoch = now
            self.current_per_s = self._bounded(self.beta * limit)  # rule 5
            return self._report(decrease=True)
        self._accepted.append(now)
        if self._epoch is None:
            if self.start_per_s is None:
                return None  # fixed mode: already at the ceiling
            wanted = slow_start_per_s(
                start_per_s=self._bounded(self.start_per_s),
                since_s=now - self._started,
                double_s=self.probe_double_s,
            )  # rule 2
        else:
            assert self.found_per_s is not None
            wanted = cubic_per_s(
                limit_per_s=self.found_per_s,
                since_s=now - self._epoch,
                beta=self.beta,
                c=self.c,
                settle=self.settle,
                hold_s=self.hold_s,
            )  # rules 6, 7
        wanted = min(wanted, max(2.0 * (accepted + 1), self.current_per_s))  # rule 8
        self.current_per_s = self._bounded(max(wanted, self.floor_per_s))
        return self._report(decrease=False)

    def _report(self, *, decrease: bool) -> float | None:
        rate = self.current_per_s
        moved = abs(rate - self._reported)
        if moved == 0 or (not decrease and moved < 0.01 * self._reported):
            return None  # rule 9
        self._reported = rate
        return rate


def adaptive_rate_for(settings: ApiSettings) -> AdaptiveRate | None:
    """A run's controller: auto mode starts low and searches; fixed mode starts at its rate."""
    if settings.rate_per_s is None:
        return None
    if not settings.rate_auto:
        return AdaptiveRate(settings.rate_per_s)
    start = settings.rate_start_per_s or DEFAULT_START_PER_S
    return AdaptiveRate(
        settings.rate_per_s,
        start_per_s=min(start, settings.rate_per_s),
        known_limit_per_s=settings.rate_known_limit_per_s,
    )
