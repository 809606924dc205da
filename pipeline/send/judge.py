"""Judge each row of an order after its requests: the answer, the refetched order and
what the row asked for make its outcome (applied, unverified, failed, sent, not_attempted).
Pure: no request, no journal.

    results = judge(changes, answers, refetch=Refetch(answer), earlier_attempts={})
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pipeline.api.answers import Answer
from pipeline.core.outcomes import ErrorCode, Outcome
from pipeline.inputs.address import Value
from pipeline.inputs.changes import Change
from pipeline.plan.verify import mismatches, status_explanation
from pipeline.store.schema import RowResult


@dataclass(frozen=True, slots=True)
class Refetch:
    """The refetched order, or why there is none."""

    order: dict[str, Any] | None
    problem: str | None = None
    stopped: bool = False  # the run stopped before the refetch: `resume` checks again


def judge(
    change: Change,
    answer: Answer | None,
    refetch: Refetch | None,
    *,
    earlier_attempts: int = 0,
    expected: list[tuple[str, Value]] | None = None,
) -> RowResult:
    """The outcome of one row from its answer and the refetched order (None: not refetched).

    `expected`: what the order must show (`Change.expectations` of the order as the
    change found it: the kept address fields too); None: the fields the row names.
    """
    if answer is None or (answer.code is ErrorCode.ABORTED and answer.attempts == 0):
        sent_before = earlier_attempts > 0
        return RowResult(
            index=change.index,
            order_id=change.order_id,
            action=change.action,
            outcome=Outcome.FAILED if sent_before else Outcome.NOT_ATTEMPTED,
            error_code=ErrorCode.ABORTED,
            error=_stopped_message(answer, sent_before=sent_before),
            attempts=earlier_attempts,
        )
    attempts = answer.attempts + earlier_attempts
    sent = RowResult(
        index=change.index,
        order_id=change.order_id,
        action=change.action,
        outcome=Outcome.SENT,
        http_status=answer.status,
        attempts=attempts,
        latency_ms=round(answer.latency_ms, 1) if answer.latency_ms is not None else None,
    )
    order = refetch.order if refetch is not None else None
    if answer.ok:
        if refetch is None:
            return sent
        if order is None and refetch.stopped:
            return replace(
                sent,
                outcome=Outcome.UNVERIFIED,
                error_code=ErrorCode.ABORTED,
                error="sent, but the run stopped before the order was refetched to check it;"
                " resume sends it again and checks",
            )
        if order is None:
            return replace(
                sent,
                outcome=Outcome.UNVERIFIED,
                error_code=ErrorCode.NOT_VERIFIED,
                error=f"sent, but the order could not be refetched to check it ({refetch.problem})",
            )
        missing = mismatches(change, order, expected=expected)
        if not missing:
            return replace(sent, outcome=Outcome.APPLIED)
        return replace(
            sent,
            outcome=Outcome.UNVERIFIED,
            error_code=ErrorCode.NOT_VERIFIED,
            error="sent and accepted, but the order shows " + "; ".join(missing[:3]),
        )
    # A refused row is never called done on a normalised match ("Boston" is not "BOSTON"):
    # only when the order holds exactly what the row sets.
    if (
        order is not None
        and answer.code is not ErrorCode.ABORTED
        and not mismatches(change, order, exact=True, expected=expected)
    ):
        if attempts > 1:  # an earlier attempt may have landed before its answer was lost
            return replace(sent, outcome=Outcome.APPLIED)
        return replace(
            sent, outcome=Outcome.UNCHANGED, error=f"the order already had this ({answer.message})"
        )
    if order is None and attempts > 1 and answer.code is ErrorCode.STATUS_CONFLICT:
        # An earlier attempt's answer was lost and the retry was refused: the first may
        # have landed, and without the order nobody can tell. Rerun sends it and checks.
        return replace(
            sent,
            outcome=Outcome.UNVERIFIED,
            error_code=ErrorCode.NOT_VERIFIED,
            error=f"an earlier attempt's answer was lost, the retry was refused ({answer.message}),"
            " and the order could not be refetched to check; it may have landed",
        )
    message = answer.message
    explanation = status_explanation(change.action, order.get("orderStatus") if order else None)
    if explanation and answer.code in (ErrorCode.STATUS_CONFLICT, ErrorCode.REJECTED):
        message = f"{explanation} (HTTP {answer.status})"
    return replace(sent, outcome=Outcome.FAILED, error_code=answer.code, error=message)


def _stopped_message(answer: Answer | None, *, sent_before: bool) -> str:
    reason = answer.message if answer is not None else "the run was stopped"
    if sent_before:
        return f"{reason}; the change was in flight and may have landed (rerun sends it again)"
    return f"{reason}; not sent"
