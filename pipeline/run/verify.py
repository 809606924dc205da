"""Did the change land? Compare a row's change with the refetched order (SPEC §6).

Text is compared without regard to case and surrounding white space; numbers
within 1e-6; a cancel landed when `cancelRequestedAt` is set or the order is
CANCELLED.

    mismatches(change, order)  # [] when every field the row set is on the order
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.run.changes import Change, Value

UPDATABLE = frozenset({"PROCESSING"})
CANCELLABLE = frozenset({"PENDING", "PROCESSING"})


def _lookup(order: dict[str, Any], path: str) -> Any:
    value: Any = order
    for part in path.split(".", 1) if path.startswith("customAttributes.") else path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def same(actual: Any, expected: Value) -> bool:
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
    return str(actual).strip().casefold() == expected.strip().casefold()


def cancel_landed(order: dict[str, Any]) -> bool:
    return bool(order.get("cancelRequestedAt")) or order.get("orderStatus") == "CANCELLED"


def mismatches(change: Change, order: dict[str, Any]) -> list[str]:
    """What the order shows differently from what the row set; empty when it all landed."""
    if change.action == "cancel":
        if cancel_landed(order):
            return []
        return [f"the order is {order.get('orderStatus')} with no cancellation request"]
    found = []
    for path, expected in change.expectations():
        actual = _lookup(order, path)
        if not same(actual, expected):
            found.append(f"{path} is {actual!r}, not {expected!r}")
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
