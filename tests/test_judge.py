"""Judging a row from its answer and the refetched order (pure)."""

from __future__ import annotations

import unicodedata
from dataclasses import replace

import pytest

from pipeline.api.answers import Answer
from pipeline.core.outcomes import ErrorCode, Outcome
from pipeline.inputs.changes import Change
from pipeline.plan.diff import decide, decide_order
from pipeline.send.judge import Refetch, judge

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


# --- update and address rows ---------------------------------------------------------------

COMMENT = Change(index=0, order_id=7, action="update", address_type=None, comment="Leave at door")
CITY = Change(
    index=0,
    order_id=7,
    action="update",
    address_type=None,
    address=(("city", "BOSTON"), ("phone", "+43 660 1234567")),
)
ADDRESS = Change(
    index=0,
    order_id=7,
    action="address",
    address_type="DELIVERY",
    address=(
        ("name", unicodedata.normalize("NFC", "José Müller")),
        ("street", "Main St 1"),
        ("city", "Boston"),
        ("zip", "02134"),
        ("countryIso2", "US"),
        ("state", "MA"),
    ),
)
ACCEPTED = Answer(204, None, None, "", 1, 1.0)


def order_with(**fields: object) -> dict[str, object]:
    address = {"name1": "José Müller", "address1": "Main St 1", "city": "Boston"}
    address |= {"zip": "02134", "country": "US", "state": "MA", "phone": "+43 660 1234567"}
    order: dict[str, object] = {"orderStatus": "PROCESSING", "comment": "Leave at door"}
    order["deliveryAddress"] = address | {k: v for k, v in fields.items() if k != "comment"}
    if "comment" in fields:
        order["comment"] = fields["comment"]
    return order


@pytest.mark.parametrize(
    ("change", "answer", "order", "outcome", "code"),
    [
        # Accepted and on the order (the API may store its own spelling: verification normalises).
        (COMMENT, ACCEPTED, order_with(), Outcome.APPLIED, None),
        (COMMENT, ACCEPTED, order_with(comment="LEAVE AT  DOOR "), Outcome.APPLIED, None),
        (CITY, ACCEPTED, order_with(city="Boston"), Outcome.APPLIED, None),
        (
            CITY,
            ACCEPTED,
            order_with(city="BOSTON", phone="0043-660-1234567"),
            Outcome.APPLIED,
            None,
        ),
        (CITY, ACCEPTED, order_with(city="Graz"), Outcome.UNVERIFIED, ErrorCode.NOT_VERIFIED),
        (
            COMMENT,
            ACCEPTED,
            order_with(comment="other"),
            Outcome.UNVERIFIED,
            ErrorCode.NOT_VERIFIED,
        ),
        # Decomposed text on the order still shows the composed value.
        (
            ADDRESS,
            ACCEPTED,
            order_with(name1=unicodedata.normalize("NFD", "José Müller")),
            Outcome.APPLIED,
            None,
        ),
        (ADDRESS, ACCEPTED, order_with(zip="02135"), Outcome.UNVERIFIED, ErrorCode.NOT_VERIFIED),
        # Refused: never done on a normalised match; unchanged only on an exact one.
        (CITY, refused(1), order_with(city="Boston"), Outcome.FAILED, ErrorCode.STATUS_CONFLICT),
        (CITY, refused(1), order_with(city="BOSTON"), Outcome.UNCHANGED, None),
        (
            COMMENT,
            refused(1),
            order_with(comment="leave at door"),
            Outcome.FAILED,
            ErrorCode.STATUS_CONFLICT,
        ),
        (
            COMMENT,
            refused(2),
            order_with(comment="leave at door"),
            Outcome.FAILED,
            ErrorCode.STATUS_CONFLICT,
        ),
        (COMMENT, refused(2), order_with(), Outcome.APPLIED, None),  # the lost first attempt
        (ADDRESS, refused(1), order_with(city="BOSTON"), Outcome.FAILED, ErrorCode.STATUS_CONFLICT),
    ],
)
def test_judge_update_and_address_rows(
    change: Change,
    answer: Answer,
    order: dict[str, object],
    outcome: Outcome,
    code: ErrorCode | None,
) -> None:
    result = judge(change, answer, Refetch(order))
    assert (result.outcome, result.error_code) == (outcome, code)


@pytest.mark.parametrize(
    ("change", "order", "precondition", "outcome", "code"),
    [
        (COMMENT, order_with(), None, Outcome.UNCHANGED, None),
        (COMMENT, order_with(comment="leave at door"), None, None, None),  # case differs: send
        (COMMENT, order_with(comment=None), None, None, None),
        (ADDRESS, order_with(phone=None), None, Outcome.UNCHANGED, None),
        (ADDRESS, order_with(), None, Outcome.UNCHANGED, None),  # no phone cell: kept
        (ADDRESS, order_with(city="BOSTON"), None, None, None),
        (ADDRESS, order_with(address2="Apt 4"), None, Outcome.UNCHANGED, None),  # kept
        (replace(ADDRESS, cleared=("street2",)), order_with(address2="Apt 4"), None, None, None),
        (
            ADDRESS,
            order_with(name1=unicodedata.normalize("NFD", "José Müller"), phone=None),
            None,
            Outcome.UNCHANGED,
            None,
        ),
        (
            COMMENT,
            {**order_with(comment="old"), "orderStatus": "COMPLETED"},
            None,
            Outcome.FAILED,
            ErrorCode.STATUS_CONFLICT,
        ),
        (
            COMMENT,
            order_with(comment="old"),
            {"comment": "older"},
            Outcome.STALE,
            ErrorCode.CHANGED_SINCE_PLAN,
        ),
        (
            COMMENT,
            order_with(comment="old"),
            {"comment": "old", "orderStatus": "PROCESSING"},
            None,
            None,
        ),
        (CANCEL, REQUESTED, None, Outcome.UNCHANGED, None),
        (CANCEL, PLAIN, None, None, None),
        (CANCEL, {"orderStatus": "COMPLETED"}, None, Outcome.FAILED, ErrorCode.STATUS_CONFLICT),
    ],
)
def test_decide_from_the_before_image(
    change: Change,
    order: dict[str, object],
    precondition: dict[str, object] | None,
    outcome: Outcome | None,
    code: ErrorCode | None,
) -> None:
    result = decide(change, order, precondition=precondition)
    if outcome is None:
        assert result is None
    else:
        assert result is not None
        assert (result.outcome, result.error_code) == (outcome, code)


SECOND = Change(index=1, order_id=7, action="update", address_type=None, tracking_enabled=True)


@pytest.mark.parametrize(
    ("order", "attempts", "expected"),
    [
        # Nothing changed since the plan: both rows are sent.
        (order_with(comment="old") | {"trackingEnabled": False}, {}, {}),
        # Someone else set the comment: the whole order is stale.
        (
            order_with(comment="theirs") | {"trackingEnabled": False},
            {},
            {0: Outcome.STALE, 1: Outcome.STALE},
        ),
        # A resumed apply: row 0 landed in the earlier session. That is ours, not
        # someone else's change: row 0 is applied, row 1 is still sent.
        (order_with() | {"trackingEnabled": False}, {0: 1}, {0: Outcome.APPLIED}),
        # ... but a value that is neither the plan's nor ours is still someone else's.
        (
            order_with(comment="theirs") | {"trackingEnabled": False},
            {0: 1},
            {0: Outcome.STALE, 1: Outcome.STALE},
        ),
    ],
)
def test_decide_order_with_a_precondition(
    order: dict[str, object], attempts: dict[int, int], expected: dict[int, Outcome]
) -> None:
    precondition = {"orderStatus": "PROCESSING", "comment": "old", "trackingEnabled": False}
    decided = decide_order(
        [COMMENT, SECOND], order, precondition=precondition, earlier_attempts=attempts
    )
    assert {index: result.outcome for index, result in decided.items()} == expected
