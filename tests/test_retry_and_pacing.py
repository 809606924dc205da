"""Retries, backoff, Retry-After and pacing windows: pure, with tables (rates: test_rate.py)."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime

import pytest

from pipeline.api.rate.pacer import window_wait_s
from pipeline.api.retry import backoff_s, parse_retry_after, retry_wait_s

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 1.0, 0.5),
        (2, 1.0, 1.0),
        (3, 1.0, 2.0),
        (3, 0.5, 1.0),
        (3, 0.0, 0.0),
        (10, 1.0, 30.0),  # capped
        (1000, 1.0, 30.0),  # no overflow
    ],
)
def test_backoff_is_full_jitter_under_an_exponential_cap(
    attempt: int, rand: float, expected: float
) -> None:
    assert backoff_s(attempt, base_s=0.5, cap_s=30.0, rand=lambda: rand) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        ("100000", 120.0),
        ("Tue, 24 Nov 2026 12:00:07 GMT", 7.0),
        ("Tue, 24 Nov 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (None, True),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (422, False),
        (501, False),
    ],
)
def test_which_answers_are_retried(status: int | None, retryable: bool) -> None:
    assert retry_wait_s(status, {})[0] is retryable


def test_a_429_carries_its_retry_after() -> None:
    assert retry_wait_s(429, {"Retry-After": "2"}) == (True, 2.0)
    assert retry_wait_s(404, {"Retry-After": "2"}) == (False, None)


@pytest.mark.parametrize(
    ("log", "now", "cap", "wait"),
    [
        ([], 10.0, 3, 0.0),
        ([9.5, 9.6], 10.0, 3, 0.0),  # a third fits
        ([9.5, 9.6, 9.7], 10.0, 3, 0.5),  # the fourth waits until 9.5 leaves the window
        ([8.0, 9.6, 9.7], 10.0, 3, 0.0),  # 8.0 is already out
        ([9.2, 9.4, 9.6, 9.8], 10.0, 2, 0.6),  # after a rate cut: wait for 9.6 to leave
    ],
)
def test_window_wait_keeps_every_window_within_the_cap(
    log: list[float], now: float, cap: int, wait: float
) -> None:
    assert window_wait_s(deque(log), now, cap=cap, window_s=1.0) == pytest.approx(wait)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        ([True] * 19, False),  # too few to judge
        ([True] * 20, True),
        ([True] * 16 + [False] * 4, True),  # 80% failing
        ([True] * 15 + [False] * 5, False),
        ([False] * 50 + [True] * 39, False),  # 39 of the last 50
        ([False] * 50 + [True] * 40, True),  # 40 of the last 50: the old successes left
    ],
)
def test_health_trips_when_most_recent_attempts_fail(failures: list[bool], expected: bool) -> None:
    from pipeline.api.health import Health

    health = Health()
    verdicts = [health.record(failed=failed) for failed in failures]
    assert verdicts[-1] is expected
