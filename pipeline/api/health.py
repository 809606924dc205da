"""Is the API usable? A sliding window over the latest attempts (SPEC §5).

The API counts as unusable once at least `minimum` attempts were seen and
`failing_share` of the latest `window` failed: 5xx, no answer, or a storm of
403 / 429 (a wrong account, a server that throttles everything; a 429 counts once
the adaptive rate is at its floor, see accounting). 401s stop a run by the
client's login rules instead. A gateway outage (502/503/504) is first ridden out: see `Outage`.

    health = Health()
    if health.record(failed=counts_as_failure(status)): stop the run
"""

from __future__ import annotations

from collections import deque

GATEWAY_STATUS = frozenset({502, 503, 504})


def counts_as_failure(status: int | None) -> bool:
    """Does this attempt count against the API's health?

    A 401 does not: an expired token is renewed, and a token refused right after its
    login stops the run at once (the client's rule), so a 401 storm never gets far.
    """
    return status is None or status >= 500 or status in (403, 429)


class Outage:
    """A gateway outage in progress: since when 502/503/504 come back.

    While it is younger than `grace_s` the run waits it out (retries do not use up
    their budget and health does not stop the run); any other answer ends it.
    """

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.since: float | None = None

    def record(self, status: int | None, now: float) -> None:
        if status is None:
            return  # no answer (timeout, connection): neither starts nor ends an outage
        if status in GATEWAY_STATUS:
            if self.since is None:
                self.since = now
        else:
            self.since = None

    def riding_out(self, now: float) -> bool:
        """True while an outage is on and younger than the grace period."""
        return self.since is not None and now - self.since < self.grace_s


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
