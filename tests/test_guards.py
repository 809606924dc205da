"""The breaker, plan ages and limits as pure functions (docs/plan-apply-undo.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.core.errors import OptionsError
from pipeline.core.outcomes import ErrorCode
from pipeline.flows.apply import check_age, parse_age
from pipeline.plan.guards import Breaker

NF, REJ, OK = ErrorCode.ORDER_NOT_FOUND, ErrorCode.REJECTED, None


def trips_at(codes: list[ErrorCode | None]) -> int | None:
    """The 1-based row at which the breaker trips, or None."""
    breaker = Breaker()
    for number, code in enumerate(codes, start=1):
        if breaker.record(code, f"row {number}") is not None:
            return number
    return None


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([NF] * 11, 11),  # more than half of the first 20 is certain at the 11th
        ([NF] * 10 + [OK] * 10, None),  # exactly half: not more
        ([OK, NF] * 10 + [NF], None),  # 10 of the first 20; then a window of 50 needs 26
        ([OK] * 20 + [NF] * 30, 50),  # after the first 20: judged over 50 rows in a row
        ([OK] * 25 + [NF] * 25, None),  # half of 50 is not more than half
        ([REJ] * 6 + [NF] * 6 + [OK] * 8, None),  # different codes are not added up
        ([ErrorCode.SERVER_ERROR] * 20, None),  # the API's trouble is not the file's
        ([ErrorCode.STATUS_CONFLICT] * 20, None),
        ([OK] * 30 + [REJ] * 26, 56),
    ],
)
def test_breaker_table(codes: list[ErrorCode | None], expected: int | None) -> None:
    assert trips_at(codes) == expected


def test_breaker_message_names_the_code_and_rows() -> None:
    breaker = Breaker()
    reasons = [breaker.record(NF, f"row {n}") for n in range(2, 13)]
    assert reasons[-1] is not None
    assert "order_not_found" in reasons[-1]
    assert "row 2, row 3, row 4" in reasons[-1]
    assert "--no-breaker" in reasons[-1]


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("created", "max_age", "refused"),
    [
        ("2026-11-24T11:00:00+00:00", timedelta(hours=24), False),
        ("2026-11-23T12:00:00+00:00", timedelta(hours=24), False),
        ("2026-11-23T11:59:00+00:00", timedelta(hours=24), True),
        ("2026-11-22T12:00:00+00:00", timedelta(hours=48), False),
    ],
)
def test_plan_age_limit(created: str, max_age: timedelta, refused: bool) -> None:
    if refused:
        with pytest.raises(OptionsError, match="--max-age"):
            check_age(created, max_age=max_age, now=NOW)
    else:
        check_age(created, max_age=max_age, now=NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("36", timedelta(hours=36)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_parse_age(text: str, expected: timedelta) -> None:
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["soon", "-3h", ""])
def test_parse_age_refuses_nonsense(text: str) -> None:
    with pytest.raises(OptionsError, match="--max-age"):
        parse_age(text)
