"""Is the API usable? A sliding window over the latest attempts (docs/design/sending.md).

The API counts as unusable once at least `minimum` attempts were seen and either

- `failing_share` of the latest `window` failed: 5xx, no answer, a storm of 403 /
  429 (a wrong account, a server that throttles everything; a 429 counts once the
  adaptive rate is at its floor, see accounting), or 401s counted below; or
- a 401 storm: the latest `window` attempts hold `refused_share` (1 in 5) as many
  401s that token expiry cannot explain.

Which 401s count (`TokenRefusals`), telling a storm from token expiry: an
expired token stays expired. So

1. a token's first refusal counts once: expiry costs one count per token
   lifetime (the requests in flight with the dead token share it), a small
   share of the window unless tokens live for fewer than ~4 requests;
2. a token that the API accepts again (a 2xx), on a request sent after the client saw
   it refused, was live when refused: each of its refusals counts (the ones
   before, and every one after). (A request sent before the client saw the
   refusal may have reached the server first: accepted, it proves nothing.)

When the API refuses live tokens, every renewed token is soon refused again and
accepted again, the counted refusals fill the window and the run stops after a
bounded number of logins. A token refused before any token of the client was
accepted stops the run at once (the client's rule: wrong credentials or auth
scheme). A gateway outage (502/503/504) is first ridden out: see `Outage`.

    health = Health()
    counted = refusals.refused(token, next_send=n)  # a 401; else refusals.accepted(token, sent=k)
    if health.record(failed=counts_as_failure(status) or counted > 0, refused_tokens=counted):
        stop the run
"""

from __future__ import annotations

from collections import OrderedDict, deque

GATEWAY_STATUS = frozenset({502, 503, 504})


def counts_as_failure(status: int | None) -> bool:
    """Does this attempt count against the API's health?

    A 401 counts only when `TokenRefusals` says token expiry cannot explain it.
    """
    return status is None or status >= 500 or status in (403, 429)


class TokenRefusals:
    """Which 401s token expiry cannot explain (rules 1 and 2 above), per token.

    Requests are numbered in the order they leave (`sent`); `next_send` is the number
    the next request will get when a refusal arrives, so a request numbered that or
    higher left after the client saw the refusal.
    """

    KEEP_TOKENS = 16  # the latest tokens refused: older ones are not used any more

    def __init__(self) -> None:
        # token -> [first send after a refusal was seen, refusals not counted yet]
        self._refused: OrderedDict[str, list[int]] = OrderedDict()
        self._live: set[str] = set()  # refused, then accepted again: refused while live

    def answered(self, token: str | None, status: int | None, *, sent: int, next_send: int) -> int:
        """Request number `sent` with `token` got `status`; return the 401s that count now.
        Only a 2xx proves the token was accepted: a gateway's 5xx or a 429 may come before
        the API looks at the token."""
        if token is None:
            return 0
        if status == 401:
            return self.refused(token, next_send=next_send)
        if status is not None and 200 <= status < 300:
            return self.accepted(token, sent=sent)
        return 0

    def refused(self, token: str, *, next_send: int) -> int:
        """A 401 on a request with `token`; return how many refusals count now (0 or 1)."""
        if token in self._live:
            return 1  # rule 2: a live token refused again
        entry = self._refused.get(token)
        if entry is None:
            self._refused[token] = [next_send, 0]
            while len(self._refused) > self.KEEP_TOKENS:
                old, _ = self._refused.popitem(last=False)
                self._live.discard(old)
            return 1  # rule 1: the first refusal of a token
        entry[0] = min(entry[0], next_send)
        entry[1] += 1  # counted if the token turns out live
        return 0

    def accepted(self, token: str, *, sent: int) -> int:
        """A 2xx answer to request number `sent` with `token`; return how
        many earlier refusals of it now count (rule 2: it was live when refused)."""
        entry = self._refused.get(token)
        if entry is None or sent < entry[0]:
            return 0
        self._live.add(token)
        pending, entry[1] = entry[1], 0
        return pending


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
    """Is the API usable? False once most recent attempts failed, or a 401 storm."""

    def __init__(
        self,
        *,
        window: int = 50,
        minimum: int = 20,
        failing_share: float = 0.8,
        refused_share: float = 0.2,
    ) -> None:
        self._recent: deque[tuple[bool, int]] = deque()
        self._window, self._minimum = window, minimum
        self._failing_share, self._refused_share = failing_share, refused_share
        # Among _recent, kept as it changes (record runs per request).
        self._failures = 0
        self._refusals = 0

    def record(self, *, failed: bool, refused_tokens: int = 0) -> bool:
        """Add one attempt; return True when the API now counts as unusable.

        `refused_tokens`: the 401s this attempt showed to be unexplained by expiry.
        """
        self._recent.append((failed, refused_tokens))
        self._failures += failed
        self._refusals += refused_tokens
        if len(self._recent) > self._window:
            old_failed, old_refused = self._recent.popleft()
            self._failures -= old_failed
            self._refusals -= old_refused
        seen = len(self._recent)
        failing = seen >= self._minimum and self._failures >= self._failing_share * seen
        return failing or self.refusing_tokens() is not None

    def refusing_tokens(self) -> tuple[int, int] | None:
        """(401s counted, attempts seen) when the window shows a 401 storm, else None."""
        seen = len(self._recent)
        if seen >= self._minimum and self._refusals >= self._refused_share * seen:
            return self._refusals, seen
        return None
