"""Plan the sends: conflicting rows, exact duplicates, and each order's sequence (SPEC §4).

- Two rows that set the same field of the same order to different values are
  both rejected (`conflicting_rows`), naming each other.
- An exact duplicate of an earlier row is not sent again (`duplicate`).
- Each order's changes run one after another: updates and address changes in
  input order, then the cancel.

    plan = plan_changes(checked, locate=lambda index: f"row {index + 1}")
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.changes import Change, Value
from pipeline.outcomes import ErrorCode
from pipeline.rows import Rejection


@dataclass(frozen=True, slots=True)
class Duplicate:
    index: int
    order_id: int
    action: str
    original: int  # index of the row that is sent


@dataclass(frozen=True, slots=True)
class OrderWork:
    """Everything to send for one order, in sending order."""

    order_id: int
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Plan:
    orders: tuple[OrderWork, ...]  # in order of first appearance
    rejections: tuple[Rejection, ...]  # invalid rows, conflicts included
    duplicates: tuple[Duplicate, ...]

    @property
    def change_count(self) -> int:
        return sum(len(work.changes) for work in self.orders)

    @property
    def cancels(self) -> int:
        return sum(1 for work in self.orders for c in work.changes if c.action == "cancel")


def _shown(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def _field_name(path: str) -> str:
    return (
        path.split(".", 1)[1] if path.startswith(("deliveryAddress.", "invoiceAddress.")) else path
    )


def find_conflicts(
    changes: Sequence[Change], *, locate: Callable[[int], str]
) -> dict[int, Rejection]:
    """Rows of the same order that set one field to different values, by index."""
    by_field: dict[tuple[int, str], dict[Value, list[Change]]] = defaultdict(dict)
    for change in changes:
        for path, value in change.claims().items():
            by_field[(change.order_id, path)].setdefault(value, []).append(change)
    problems: dict[int, list[str]] = defaultdict(list)
    for (_, path), values in by_field.items():
        if len(values) < 2:
            continue
        for value, holders in values.items():
            others = [
                f"{locate(other.index)} sets it to {_shown(other_value)}"
                for other_value, other_holders in values.items()
                if other_value != value
                for other in other_holders
            ]
            for change in holders:
                problems[change.index].append(
                    f"{_field_name(path)} is {_shown(value)} here but {', '.join(others)}"
                )
    rejected = {}
    for change in changes:
        if change.index in problems:
            message = "; ".join(problems[change.index][:3]) + "; keep one value and rerun"
            rejected[change.index] = Rejection(
                change.index, change.order_id, change.action, ErrorCode.CONFLICTING_ROWS, message
            )
    return rejected


def plan_changes(checked: Sequence[Change | Rejection], *, locate: Callable[[int], str]) -> Plan:
    """Turn validated rows into per-order work, rejecting conflicts and folding duplicates.

    Conflicts and duplicates can only occur within one order, so only orders
    with several rows have their claims compared (a million distinct orders
    cost one dict insert each).
    """
    rejections = [r for r in checked if isinstance(r, Rejection)]
    per_order: dict[int, list[Change]] = {}
    for change in checked:
        if isinstance(change, Change):
            per_order.setdefault(change.order_id, []).append(change)
    duplicates: list[Duplicate] = []
    orders: list[OrderWork] = []
    for order_id, changes in per_order.items():
        if len(changes) > 1:
            conflicts = find_conflicts(changes, locate=locate)
            rejections.extend(conflicts.values())
            changes = _fold_duplicates([c for c in changes if c.index not in conflicts], duplicates)
            if not changes:
                continue
            changes.sort(key=lambda c: (c.action == "cancel", c.index))
        orders.append(OrderWork(order_id, tuple(changes)))
    rejections.sort(key=lambda r: r.index)
    duplicates.sort(key=lambda d: d.index)
    return Plan(orders=tuple(orders), rejections=tuple(rejections), duplicates=tuple(duplicates))


def _fold_duplicates(changes: list[Change], duplicates: list[Duplicate]) -> list[Change]:
    """Keep the first of each identical change of one order; record the others."""
    first_of: dict[tuple[object, ...], int] = {}
    kept = []
    for change in changes:
        identity = (change.action, change.address_type, tuple(change.claims().items()))
        original = first_of.setdefault(identity, change.index)
        if original == change.index:
            kept.append(change)
        else:
            duplicates.append(Duplicate(change.index, change.order_id, change.action, original))
    return kept
