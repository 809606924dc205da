"""Did the change land? Compare a row's change with the refetched order (docs/design/sending.md).

Verification may normalise per field, since the API may store a value in its
own spelling: text in Unicode NFC, without regard to case and runs of white
space; a phone by its digits (an E.164 `+43 1 234` equals `0043-1-234`);
numbers within 1e-6. A cancel landed when `cancelRequestedAt` is set or the
order is CANCELLED. `unchanged` never uses this: it needs exact equality
(`pipeline.plan.diff.exactly`).

    mismatches(change, order)  # [] when every field the row set is on the order
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from pipeline.inputs.address import Value
from pipeline.inputs.changes import Change

UPDATABLE = frozenset({"PROCESSING"})
CANCELLABLE = frozenset({"PENDING", "PROCESSING"})


_SPACES = re.compile(r"\s+")


def lookup(order: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`deliveryAddress.city`; attribute keys may hold dots)."""
    value: Any = order
    for part in path.split(".", 1) if path.startswith("customAttributes.") else path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def normal_text(path: str, value: Any) -> str:
    """The field-aware comparison form of a text value (see the module docstring)."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", str(value))).strip().casefold()
    if path.endswith(".phone"):
        digits = re.sub(r"[^\d+]", "", text)
        return "+" + digits[2:] if digits.startswith("00") else digits
    return text


def same(actual: Any, expected: Value, *, path: str = "") -> bool:
    """Does the order's `actual` value show the `expected` one (normalised per field)?

    An expected empty value ("") matches an empty or absent one.
    """
    if isinstance(expected, str) and not expected.strip():
        return actual is None or (isinstance(actual, str) and not actual.strip())
    if isinstance(expected, bool):
        if isinstance(actual, bool):
            return actual is expected
        return str(actual).strip().casefold() == str(expected).casefold()
    if isinstance(expected, float):
        try:
            return math.isclose(float(actual), expected, abs_tol=1e-6)
        except (TypeError, ValueError):
            return False
    if actual is None:
        return False
    return normal_text(path, actual) == normal_text(path, expected)


def _exactly(actual: Any, expected: Value) -> bool:
    if expected == "":
        return actual is None or actual == ""
    if isinstance(expected, bool | float):
        return same(actual, expected)
    return isinstance(actual, str) and unicodedata.normalize(
        "NFC", actual
    ) == unicodedata.normalize("NFC", expected)


def cancel_landed(order: dict[str, Any]) -> bool:
    return bool(order.get("cancelRequestedAt")) or order.get("orderStatus") == "CANCELLED"


def mismatches(
    change: Change,
    order: dict[str, Any],
    *,
    exact: bool = False,
    expected: list[tuple[str, Value]] | None = None,
) -> list[str]:
    """What the order shows differently from what the row set; empty when it all landed.

    `exact`: without any normalisation but NFC (for rows the API refused).
    `expected`: the values to find (default: `change.expectations()`, the named fields);
    an address field the row did not name that is not as kept is named as kept.
    """
    if change.action == "cancel":
        if cancel_landed(order):
            return []
        return [f"the order is {order.get('orderStatus')} with no cancellation request"]
    found = []
    for path, value in change.expectations() if expected is None else expected:
        actual = lookup(order, path)
        if not (_exactly(actual, value) if exact else same(actual, value, path=path)):
            kept = "" if change.named(path) else " (a field the row does not name)"
            found.append(f"{path}{kept} is {actual!r}, not {value!r}")
    return found


def status_explanation(action: str, status: str | None) -> str | None:
    """Why an order in `status` refuses `action`, when its status explains it."""
    if status is None:
        return None
    if action == "cancel" and status not in CANCELLABLE:
        return f"order is {status}; cancellation is allowed only while PENDING or PROCESSING"
    if action != "cancel" and status not in UPDATABLE:
        return f"order is {status}; updates are allowed only while PROCESSING"
    return None
