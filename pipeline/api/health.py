"""Is the API usable? A sliding window over the latest attempts (SPEC §5).

The API counts as unusable once at least `minimum` attempts were seen and
`failing_share` of the latest `window` failed with 5xx or no answer.

    health = Health()
    if health.record(failed=status is None or status >= 500): stop the run
"""

from __future__ import annotations

from collections import deque


class Health:
    """Is the API usable? False once most recent attempts failed with 5xx or no answer."""

    def __init__(self, *, window: int = 50, minimum: int = 20, failing_share: float = 0.8) -> None:
        self._recent: deque[bool] = deque()
        self._window, self._minimum, self._failing_share = window, minimum, failing_share
        self._failures = 0  # among _recent, kept as it changes (record runs per request)

    def record(self, *, failed: bool) -> bool:
        """Add one attempt; return True when the API now counts as unusable."""
        self._recent.append(failed)
        self._failures += failed
        if len(self._recent) > self._window:
            self._failures -= self._recent.popleft()
        seen = len(self._recent)
        return seen >= self._minimum and self._failures >= self._failing_share * seen
