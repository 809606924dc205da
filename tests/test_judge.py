"""Judging a row from its answer and the refetched order (pure)."""

from __future__ import annotations

import pytest

from pipeline.api.answers import Answer
from pipeline.outcomes import ErrorCode, Outcome
from pipeline.run.changes import Change
from pipeline.run.send import Refetch, judge

CANCEL = Change(index=0, order_id=7, action="cancel", address_type=None)
REQUESTED = {"orderStatus": "PROCESSING", "cancelRequestedAt": "2026-11-24T01:00:00Z"}
PLAIN = {"orderStatus": "PROCESSING", "cancelRequestedAt": None}


def refused(attempts: int) -> Answer:
    return Answer(409, {"message": "already"}, ErrorCode.STATUS_CONFLICT, "HTTP 409", attempts, 1.0)


@pytest.mark.parametrize(
    ("answer", "refetch", "outcome", "code"),
    [
        (Answer(204, None, None, "", 1, 1.0), Refetch(REQUESTED), Outcome.APPLIED, None),
        (
            Answer(204, None, None, "", 1, 1.0),
            Refetch(PLAIN),
            Outcome.UNVERIFIED,
            ErrorCode.NOT_VERIFIED,
        ),
        (Answer(204, None, None, "", 1, 1.0), None, Outcome.SENT, None),
        (refused(1), Refetch(REQUESTED), Outcome.UNCHANGED, None),  # it was there before
        (refused(2), Refetch(REQUESTED), Outcome.APPLIED, None),  # the lost first attempt
        (refused(1), Refetch(PLAIN), Outcome.FAILED, ErrorCode.STATUS_CONFLICT),
        (refused(1), Refetch(None, "503"), Outcome.FAILED, ErrorCode.STATUS_CONFLICT),
        (
            refused(2),
            Refetch(None, "503"),
            Outcome.UNVERIFIED,
            ErrorCode.NOT_VERIFIED,
        ),  # may have landed
        (None, None, Outcome.NOT_ATTEMPTED, ErrorCode.ABORTED),
    ],
)
def test_judge_table(
    answer: Answer | None, refetch: Refetch | None, outcome: Outcome, code: ErrorCode | None
) -> None:
    result = judge(CANCEL, answer, refetch)
    assert (result.outcome, result.error_code) == (outcome, code)
