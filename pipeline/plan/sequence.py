"""Plan the sends: conflicting rows, exact duplicates, and each order's sequence
(docs/reference/inputs.md).

- Two rows that set the same field of the same order to different values are
  both rejected (`conflicting_rows`), naming each other.
- An exact duplicate of an earlier row is not sent again (`duplicate`).
- Each order's changes run one after another: updates and address changes in
  input order, then the cancel.

    plan = plan_changes(checked, locate=lambda index: f"row {index + 1}")
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import polars as pl

from pipeline.core.changes import Change, Value
from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.rows import CheckedRows, Rejection


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
    """What to send, order by order, in order of first appearance.

    Compact: single-row orders are kept as (order ID, row index); their Change
    is built when the sender reaches them. Orders with several rows were
    checked for conflicts and duplicates and keep their Changes.
    """

    checked: CheckedRows
    order_ids: array[int]  # per order
    first_index: array[int]  # per order: its one row, or -1 when it has several
    several: dict[int, tuple[Change, ...]]  # order ID -> changes in sending order
    rejections: tuple[Rejection, ...]  # invalid rows, conflicts included
    duplicates: tuple[Duplicate, ...]
    change_count: int

    def works(self) -> Iterator[OrderWork]:
        """Each order's work, built as it is reached."""
        for order_id, index in zip(self.order_ids, self.first_index, strict=True):
            if index >= 0:
                yield OrderWork(order_id, (self.checked.change(index),))
            elif self.several[order_id]:
                yield OrderWork(order_id, self.several[order_id])

    def sendable(self) -> Iterator[tuple[int, int, str]]:
        """(row index, order ID, action) of every row to send, without building Changes."""
        actions = self.checked.actions
        for order_id, index in zip(self.order_ids, self.first_index, strict=True):
            if index >= 0:
                yield index, order_id, actions[index] or ""
            else:
                for change in self.several[order_id]:
                    yield change.index, order_id, change.action

    def cancel_orders(self) -> int:
        return len({order for _, order, action in self.sendable() if action == "cancel"})


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


def plan_changes(checked: CheckedRows, *, locate: Callable[[int], str]) -> Plan:
    """Group valid rows by order, rejecting conflicts and folding duplicates.

    Conflicts and duplicates can only occur within one order, so only orders
    with several rows have their Changes built and compared: a million distinct
    orders are grouped by polars and cost two integers each.
    """
    rejected = sorted(checked.rejections)
    rows = pl.DataFrame(
        {"order": checked.order_ids.tolist(), "index": range(len(checked))},
        schema={"order": pl.Int64, "index": pl.Int64},
    ).filter(~pl.col("index").is_in(rejected))
    groups = rows.group_by("order", maintain_order=True).agg(pl.col("index"))
    sizes = groups["index"].list.len()
    first = groups.select(
        pl.when(sizes == 1).then(pl.col("index").list.first()).otherwise(-1)
    ).to_series()
    rejections = list(checked.rejections.values())
    duplicates: list[Duplicate] = []
    several: dict[int, tuple[Change, ...]] = {}
    for order_id, indexes in groups.filter(sizes > 1).iter_rows():
        changes = [checked.change(index) for index in indexes]
        conflicts = find_conflicts(changes, locate=locate)
        rejections.extend(conflicts.values())
        kept = _fold_duplicates([c for c in changes if c.index not in conflicts], duplicates)
        several[order_id] = tuple(sorted(kept, key=lambda c: (c.action == "cancel", c.index)))
    rejections.sort(key=lambda r: r.index)
    duplicates.sort(key=lambda d: d.index)
    single = int((sizes == 1).sum())
    return Plan(
        checked=checked,
        order_ids=array("q", groups["order"].to_list()),
        first_index=array("q", first.to_list()),
        several=several,
        rejections=tuple(rejections),
        duplicates=tuple(duplicates),
        change_count=single + sum(len(changes) for changes in several.values()),
    )


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
