"""Adaptive sending rate: back off on 429, recover when the server is calm (SPEC §5).

An AIMD-style controller in the manner of scrapy's AutoThrottle, written as
numbered rules, each applied in `AdaptiveRate.on_answer`:

1. Start at the configured rate: the ceiling, never exceeded.
2. Remember every answer that is not a 429 for one second: the accepted rate.
3. Ignore a 429 that arrives within `cooldown_s` of the last decrease: it
   answers a request sent at the old rate.
4. Otherwise drop to `decrease_factor` x min(current rate, accepted rate):
   just under what the server is seen to accept; when it accepted nothing in
   the last second, halve instead. Never below the floor.
5. After `calm_s` without a 429 and without a change, raise the rate by
   `increase_factor`, up to the ceiling; then wait `calm_s` again.

    rate = AdaptiveRate(ceiling_per_s=100)
    rate.on_answer(now, throttled=True)  # -> the new, lower rate
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class AdaptiveRate:
    ceiling_per_s: float
    floor_per_s: float = 0.5
    decrease_factor: float = 0.9
    increase_factor: float = 1.1
    calm_s: float = 2.0
    cooldown_s: float = 1.0
    current_per_s: float = field(init=False)
    _last_decrease: float = field(init=False, default=float("-inf"))
    _last_change: float = field(init=False, default=float("-inf"))
    _last_throttle: float = field(init=False, default=float("-inf"))
    _accepted: deque[float] = field(init=False, default_factory=deque)

    def __post_init__(self) -> None:
        self.current_per_s = self.ceiling_per_s  # rule 1

    def accepted_last_second(self, now: float) -> int:
        while self._accepted and now - self._accepted[0] >= 1.0:
            self._accepted.popleft()
        return len(self._accepted)

    def on_answer(self, now: float, *, throttled: bool) -> float | None:
        """Feed one answer; return the new rate when it changed, else None."""
        if not throttled:
            self._accepted.append(now)  # rule 2
            if (
                self.current_per_s < self.ceiling_per_s
                and now - self._last_change >= self.calm_s
                and now - self._last_throttle >= self.calm_s
            ):
                raised = min(self.ceiling_per_s, self.current_per_s * self.increase_factor)
                return self._change(now, raised)  # rule 5
            return None
        self._last_throttle = now
        if now - self._last_decrease < self.cooldown_s:
            return None  # rule 3
        accepted = self.accepted_last_second(now)
        if accepted:
            lowered = self.decrease_factor * min(self.current_per_s, accepted)
        else:
            lowered = self.current_per_s / 2
        lowered = max(self.floor_per_s, lowered)
        self._last_decrease = now
        return self._change(now, lowered)  # rule 4

    def _change(self, now: float, rate: float) -> float | None:
        self._last_change = now
        if rate == self.current_per_s:
            return None
        self.current_per_s = rate
        return rate
