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

import itertools
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import polars as pl

from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.address import Value
from pipeline.inputs.changes import Change
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


SHOWN_OTHERS = 2  # rows a conflict message names; the rest are counted


def conflict_messages(
    claims: Iterable[tuple[int, int, dict[str, Value]]], *, locate: Callable[[int], str]
) -> dict[int, str]:
    """Rows of the same order that set one field to different values: index -> message.

    `claims` is (index, order ID, what the row sets) per row, in file order. Only the
    claims are kept (not the rows' Changes), and each message names at most
    SHOWN_OTHERS rows that differ and counts the rest: an order of 3,500 rows costs
    what its rows cost, not their square.
    """
    by_field: dict[tuple[int, str], dict[Value, list[int]]] = defaultdict(dict)
    for index, order_id, claimed in claims:
        for path, value in claimed.items():
            by_field[(order_id, path)].setdefault(value, []).append(index)
    problems: dict[int, list[str]] = defaultdict(list)
    for (_, path), values in by_field.items():
        if len(values) < 2:
            continue
        firsts = [
            (value, holders[0])
            for value, holders in itertools.islice(values.items(), SHOWN_OTHERS + 1)
        ]
        rows_in_all = sum(len(holders) for holders in values.values())
        shown = {v: f"{locate(other)} sets it to {_shown(v)}" for v, other in firsts}
        field = _field_name(path)
        for value, holders in values.items():
            others = [text for v, text in shown.items() if v != value][:SHOWN_OTHERS]
            more = rows_in_all - len(holders) - len(others)
            if more > 0:
                others.append(f"{more:,} more row(s) set other values")
            # one string for every row holding this value
            said = f"{field} is {_shown(value)} here but {', '.join(others)}"
            for index in holders:
                problems[index].append(said)
    return {
        index: "; ".join(said[:3]) + "; keep one value and rerun"
        for index, said in problems.items()
    }


def _cancels_last(change: Change) -> tuple[bool, int]:
    return change.action == "cancel", change.index


def plan_changes(checked: CheckedRows, *, locate: Callable[[int], str]) -> Plan:
    """Group valid rows by order, rejecting conflicts and folding duplicates.

    Conflicts and duplicates can only occur within one order, so only orders
    with several rows have their Changes built and compared: a million distinct
    orders are grouped by polars and cost two integers each. Those rows are read
    in file order (twice: their claims, then the Changes kept), never order by
    order, which would turn the rows of interleaved orders into Python objects
    once per order.
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
    multi = groups.filter(sizes > 1)
    in_order = multi["index"].explode().sort().to_list()

    actions: list[str] = []  # per row of `in_order`, its action (shared strings)

    def claims() -> Iterator[tuple[int, int, dict[str, Value]]]:
        for index in in_order:
            change = checked.change(index)
            actions.append(change.action)
            yield index, change.order_id, change.claims()

    conflicts = conflict_messages(claims(), locate=locate)
    kept: dict[int, list[Change]] = defaultdict(list)
    first_of: dict[tuple[object, ...], int] = {}
    for index, action in zip(in_order, actions, strict=True):
        if index in conflicts:  # rejected: its Change is not built again
            order_id = checked.order_ids[index]
            message = conflicts[index]
            rejections.append(
                Rejection(index, order_id, action, ErrorCode.CONFLICTING_ROWS, message)
            )
            continue
        change = checked.change(index)
        identity = (change.order_id, change.action, change.address_type, *change.claims().items())
        original = first_of.setdefault(identity, index)
        if original == index:
            kept[change.order_id].append(change)
        else:
            duplicates.append(Duplicate(index, change.order_id, change.action, original))
    several = {
        order_id: tuple(
            sorted(kept.get(order_id, ()), key=lambda c: (c.action == "cancel", c.index))
        )
        for order_id in multi["order"].to_list()
    }
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
