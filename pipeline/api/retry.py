"""Which failures are retried, and how long to wait (docs/design/sending.md).

Retried: 408, 429, 500, 502, 503, 504, timeouts and connection errors. Every
other answer is final at once. The wait is the server's `Retry-After` when it
sent one (seconds or an HTTP date, capped), else exponential backoff with full
jitter. `RetryPolicy` puts the three together for the client's one retry loop:

    backoff_s(3, base_s=0.5, cap_s=30.0, rand=random.random)  # uniform in [0, 4.0)
    policy = RetryPolicy(max_attempts=5, base_s=0.5, cap_s=30.0, rand=random.random)
    retryable, retry_after_s = retry_wait_s(status, headers)
    if retryable and not policy.exhausted(tries):
        await asyncio.sleep(policy.wait_s(tries, retry_after_s))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
RETRY_AFTER_CAP_S = 120.0


def backoff_s(attempt: int, *, base_s: float, cap_s: float, rand: Callable[[], float]) -> float:
    """Full-jitter exponential backoff: `uniform(0, min(cap, base * 2 ** (attempt - 1)))`.

    `attempt` counts from 1 (the wait after the first failed attempt). Full
    jitter spreads retries of many clients evenly instead of in waves
    (AWS Architecture Blog, "Exponential Backoff and Jitter").
    """
    ceiling: float = min(cap_s, base_s * 2.0 ** min(attempt - 1, 32))
    return rand() * ceiling


def parse_retry_after(
    value: str | None, *, now: datetime | None = None, cap_s: float = RETRY_AFTER_CAP_S
) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date), capped.

    None when the header is absent or unreadable; never negative.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap_s)


def retry_wait_s(
    status: int | None, headers: Mapping[str, str] | None
) -> tuple[bool, float | None]:
    """Is this answer retryable, and did the server say how long to wait?

    `status` None means the request timed out or the connection failed.
    """
    if status is None:
        return True, None
    if status not in RETRYABLE_STATUS:
        return False, None
    return True, parse_retry_after((headers or {}).get("Retry-After"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often to try and how long to wait between tries."""

    max_attempts: int
    base_s: float
    cap_s: float
    rand: Callable[[], float]

    def exhausted(self, tries: int) -> bool:
        """True once `tries` attempts (counting from 1) used up the budget."""
        return tries >= self.max_attempts

    def wait_s(self, tries: int, retry_after_s: float | None) -> float:
        """The server's Retry-After when it sent one, else the backoff after `tries`."""
        if retry_after_s is not None:
            return retry_after_s
        return backoff_s(tries, base_s=self.base_s, cap_s=self.cap_s, rand=self.rand)
