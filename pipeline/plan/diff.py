"""Decide a row from the order as it is, without sending: exact comparisons of what a
row sets with what an order holds (docs/plan-apply-undo.md). Pure functions, shared by
`plan`'s predictions and the send path's decisions before a change.

With the order as it is before the change, a row is decided by exact equality
(Unicode NFC, nothing else normalised):

- every field the row sets already holds that value   -> unchanged (nothing sent)
- the order's status forbids the action                -> failed, status_conflict
- a precondition (apply, undo --apply) does not hold   -> stale, changed_since_plan
- otherwise the row is sent

    decide(change, order, precondition={})              # RowResult, or None: send it
    describe_changes(change, order)                     # "zip: 1010 -> 1020; city: Wien -> Graz"
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pipeline.api.client import Answer
from pipeline.api.payloads import RESPONSE_FIELD
from pipeline.core.outcomes import ErrorCode, Outcome
from pipeline.inputs.address import Value
from pipeline.inputs.changes import Change
from pipeline.plan.sequence import Plan
from pipeline.plan.verify import cancel_landed, lookup, status_explanation
from pipeline.store.schema import RowResult

CANCEL_FIELD = "cancelRequest"  # the pseudo-field a cancel row sets


REQUEST_FIELD = {response: request for request, response in RESPONSE_FIELD.items()}


ADDRESS_PREFIXES = ("deliveryAddress.", "invoiceAddress.")


def nfc(value: Any) -> Any:
    """Text in Unicode NFC (how macOS's decomposed 'é' and the composed one compare equal)."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def targets(change: Change) -> list[tuple[str, Value]]:
    """The order paths a row names and their values, in the order's (response) field names
    ("" for a field it clears; the fields it leaves out keep their values)."""
    if change.action == "cancel":
        return [(CANCEL_FIELD, True)]
    found: list[tuple[str, Value]] = []
    for path, value in change.claims().items():
        target, _, field = path.partition(".")
        if target in ("deliveryAddress", "invoiceAddress"):
            path = f"{target}.{RESPONSE_FIELD[field]}"
        found.append((path, value))
    return found


def current(order: Mapping[str, Any], path: str) -> Any:
    """The order's value at `path` (a cancel: whether a cancellation is requested)."""
    if path == CANCEL_FIELD:
        return cancel_landed(dict(order))
    return lookup(dict(order), path)


def exactly(actual: Any, expected: Any) -> bool:
    """Exact equality, as `unchanged` needs: NFC text, an empty value equals "" or None."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected or (expected in ("", None) and actual is None)
    if expected in ("", None):
        return actual in ("", None)
    if isinstance(expected, float) or isinstance(actual, float | int):
        try:
            return float(actual) == float(expected)
        except (TypeError, ValueError):
            return False
    if actual is None:
        return False
    return bool(nfc(str(actual)) == nfc(expected))


def shown(value: Any) -> str:
    """A value as the `changes` column and messages show it."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(nfc(value))


def field_label(path: str) -> str:
    """How the `changes` column names a field: the input's column names
    (`street`, `invoice street` for the invoice address, `comment`)."""
    target, _, field = path.partition(".")
    if target in ("deliveryAddress", "invoiceAddress"):
        name = REQUEST_FIELD.get(field, field)
        return name if target == "deliveryAddress" else f"invoice {name}"
    return path


def field_changes(change: Change, order: Mapping[str, Any]) -> list[tuple[str, Any, Value]]:
    """(path, old, new) for every field whose value the row really changes on `order`.

    An address goes out whole (`Change.plan_address`): its fields that change are those
    the row gives a new value or clears, and the coordinates / state it drops.
    """
    found = [
        (path, current(order, path), value)
        for path, value in targets(change)
        if not path.startswith(ADDRESS_PREFIXES) and not exactly(current(order, path), value)
    ]
    for write in change.plan_address(order).writes:
        for target, merged in zip(write.targets, write.merged, strict=True):
            for field, _, new in merged.changes:
                path = f"{target}.{RESPONSE_FIELD[field]}"
                found.append((path, current(order, path), new))
    return found


def kept_fields(change: Change, order: Mapping[str, Any]) -> list[str]:
    """The order paths of address values a row keeps because it does not name them
    (only those that hold a value: an empty field kept is no news)."""
    kept = []
    for write in change.plan_address(order).writes:
        for target, merged in zip(write.targets, write.merged, strict=True):
            changed = {field for field, _, _ in merged.changes}
            for field in merged.body:
                path = f"{target}.{RESPONSE_FIELD[field]}"
                if field not in changed and not change.named(path):
                    kept.append(path)
    return kept


def describe_changes(change: Change, order: Mapping[str, Any] | None) -> str | None:
    """`field: old -> new` for the fields the row changes, "; "-separated (None without image)."""
    if order is None:
        return None
    if change.action == "cancel":
        if cancel_landed(dict(order)):
            return ""
        return f"orderStatus: {order.get('orderStatus')} -> cancel requested"
    described = [
        f"{field_label(path)}: {shown(old)} -> {shown(new)}"
        for path, old, new in field_changes(change, order)
    ]
    address = change.plan_address(order)
    dropped = sorted({f for w in address.writes for m in w.merged for f in m.dropped})
    if dropped and described:
        what = " and ".join(dropped)
        place = "country" if dropped == ["state"] else "place"
        belonged = "it belonged" if len(dropped) == 1 else "they belonged"
        described.append(f"note: {what} dropped: {belonged} to the old {place}")
    if address.note and described:
        described.append(f"note: {address.note}")
    return "; ".join(described)


def stale_fields(order: Mapping[str, Any], precondition: Mapping[str, Any]) -> list[str]:
    """How the order differs from what a precondition expects (empty when it holds)."""
    found = []
    for path, expected in precondition.items():
        actual = order.get("orderStatus") if path == "orderStatus" else current(order, path)
        if not exactly(actual, expected):
            found.append(f"{field_label(path)} was {shown(expected)}, now {shown(actual)}")
    return found


def decide(
    change: Change,
    order: Mapping[str, Any],
    *,
    precondition: Mapping[str, Any] | None = None,
    earlier_attempts: int = 0,
) -> RowResult | None:
    """The row's outcome from the before-image alone, or None when it must be sent."""
    base = RowResult(
        index=change.index,
        outcome=Outcome.UNCHANGED,
        order_id=change.order_id,
        action=change.action,
        attempts=earlier_attempts,
    )
    if precondition:
        differs = stale_fields(order, precondition)
        if differs:
            return RowResult(
                index=change.index,
                outcome=Outcome.STALE,
                order_id=change.order_id,
                action=change.action,
                error_code=ErrorCode.CHANGED_SINCE_PLAN,
                error="changed by someone else since: " + "; ".join(differs[:3]) + "; nothing sent",
                attempts=earlier_attempts,
            )
    address = change.plan_address(order)
    failed = None
    if address.problem is not None:
        failed = RowResult(
            index=change.index,
            outcome=Outcome.FAILED,
            order_id=change.order_id,
            action=change.action,
            error_code=address.problem[0],
            error=f"{address.problem[1]}; nothing sent",
            attempts=earlier_attempts,
        )
        if not address.writes:
            return failed
    if not field_changes(change, order):
        if earlier_attempts:  # an earlier session sent it: it landed, it was not there before
            return RowResult(
                index=change.index,
                outcome=Outcome.APPLIED,
                order_id=change.order_id,
                action=change.action,
                attempts=earlier_attempts,
            )
        return base
    if failed is not None:
        return failed
    status = order.get("orderStatus")
    explanation = status_explanation(change.action, status if isinstance(status, str) else None)
    if explanation is not None:
        return RowResult(
            index=change.index,
            outcome=Outcome.FAILED,
            order_id=change.order_id,
            action=change.action,
            error_code=ErrorCode.STATUS_CONFLICT,
            error=f"{explanation}; nothing sent",
            attempts=earlier_attempts,
        )
    return None


def decide_order(
    changes: Sequence[Change],
    order: Mapping[str, Any],
    *,
    precondition: Mapping[str, Any] | None = None,
    earlier_attempts: Mapping[int, int] | None = None,
) -> dict[int, RowResult]:
    """Decide an order's rows from its before-image: row index -> result, for rows not sent.

    A stale order sends none of its rows. A field this run already set in an earlier
    session (resume) is not someone else's change: it is left out of the precondition.
    """
    attempts = earlier_attempts or {}
    if precondition:
        ours = {
            path: value
            for change in changes
            if attempts.get(change.index)
            for path, value in targets(change)
        }
        precondition = {
            path: expected
            for path, expected in precondition.items()
            if not (path in ours and exactly(current(order, path), ours[path]))
        }
    decided = {}
    for change in changes:
        result = decide(
            change,
            order,
            precondition=precondition,
            earlier_attempts=attempts.get(change.index, 0),
        )
        if result is not None:
            decided[change.index] = result
    stale = next((r for r in decided.values() if r.outcome is Outcome.STALE), None)
    if stale is not None:
        return {
            c.index: decided.get(c.index) or replace(stale, index=c.index, action=c.action)
            for c in changes
        }
    return decided


def unread(change: Change, answer: Answer, *, earlier_attempts: int = 0) -> RowResult:
    """A row whose order could not be read first: nothing is sent for it."""
    if answer.code is ErrorCode.ABORTED and not earlier_attempts:
        outcome, message = Outcome.NOT_ATTEMPTED, f"{answer.message}; not sent"
    elif answer.code is ErrorCode.ABORTED:
        outcome = Outcome.FAILED
        message = f"{answer.message}; the change was in flight and may have landed (rerun sends it)"
    elif answer.code is ErrorCode.ORDER_NOT_FOUND:
        outcome, message = Outcome.FAILED, f"order not found ({answer.message}); nothing sent"
    else:
        outcome = Outcome.FAILED
        message = f"the order could not be read before changing it ({answer.message}); nothing sent"
    return RowResult(
        index=change.index,
        outcome=outcome,
        order_id=change.order_id,
        action=change.action,
        error_code=answer.code,
        error=message,
        http_status=answer.status,
        attempts=earlier_attempts,
    )


def row_changes(plan: Plan, images: Mapping[int, Mapping[str, Any]]) -> dict[int, str]:
    """The `changes` column: per sent row whose order has a before-image, what it changes."""
    described: dict[int, str] = {}
    for index, order_id, _ in plan.sendable():
        order = images.get(order_id)
        if order is not None:
            text = describe_changes(plan.checked.change(index), order)
            if text is not None:
                described[index] = text
    return described
