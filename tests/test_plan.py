"""Planning: conflicts rejected with each other's rows, duplicates folded, order kept."""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.rows import RowDefaults, validate_rows
from pipeline.plan.sequence import Plan, plan_changes

ADDRESS = {"name": "Ada", "street": "Main 1", "countryIso2": "AT", "zip": "1010"}


def locate(index: int) -> str:
    return f"row {index + 1}"


def plan_of(*rows: dict[str, Any]) -> Plan:
    columns = sorted({key for row in rows for key in row})
    frame = pl.DataFrame(
        [{key: row.get(key) for key in columns} for row in rows],
        schema=dict.fromkeys(columns, pl.String),
    )
    return plan_changes(validate_rows(frame, defaults=RowDefaults()), locate=locate)


def sent(plan: Plan) -> list[list[int]]:
    return [[c.index for c in work.changes] for work in plan.works()]


def test_conflicting_rows_are_both_rejected_naming_each_other() -> None:
    plan = plan_of(
        {"orderId": "7", "action": "update", "comment": "a"},
        {"orderId": "7", "action": "update", "comment": "b"},
    )
    assert sent(plan) == []
    assert [r.code for r in plan.rejections] == [ErrorCode.CONFLICTING_ROWS] * 2
    assert "row 2 sets it to 'b'" in plan.rejections[0].message
    assert "row 1 sets it to 'a'" in plan.rejections[1].message
    assert plan.change_count == 0


def test_an_exact_duplicate_is_sent_once() -> None:
    plan = plan_of(
        {"orderId": "7", "action": "update", "comment": "a"},
        {"orderId": "7", "action": "update", "comment": "a"},
    )
    assert sent(plan) == [[0]]
    assert [(d.index, d.original) for d in plan.duplicates] == [(1, 0)]


def test_a_duplicate_of_a_conflicting_row_is_rejected_too() -> None:
    plan = plan_of(
        {"orderId": "7", "action": "update", "comment": "a"},
        {"orderId": "7", "action": "update", "comment": "a"},
        {"orderId": "7", "action": "update", "comment": "b"},
    )
    assert sorted(r.index for r in plan.rejections) == [0, 1, 2]
    assert plan.duplicates == ()


def test_different_fields_of_one_order_run_in_input_order_with_the_cancel_last() -> None:
    plan = plan_of(
        {"orderId": "7", "action": "cancel"},
        {"orderId": "7", "action": "update", "comment": "a"},
        {"orderId": "7", "action": "update", "trackingEnabled": "yes"},
    )
    assert sent(plan) == [[1, 2, 0]]
    assert plan.cancel_orders() == 1


def test_an_address_row_claims_the_whole_address() -> None:
    plan = plan_of(
        {"orderId": "7", "action": "update", "city": "Graz"},
        {"orderId": "7", "action": "address", "city": "Wien", **ADDRESS},
    )
    assert {r.index for r in plan.rejections} == {0, 1}
    assert "city is 'Graz' here but row 2 sets it to 'Wien'" in plan.rejections[0].message


def test_delivery_and_invoice_addresses_are_different_fields() -> None:
    plan = plan_of(
        {"orderId": "7", "action": "address", "city": "Wien", "addressType": "DELIVERY", **ADDRESS},
        {"orderId": "7", "action": "address", "city": "Graz", "addressType": "INVOICE", **ADDRESS},
    )
    assert plan.rejections == ()
    assert sent(plan) == [[0, 1]]


def test_orders_keep_their_first_appearance_order_and_invalid_rows_stay_out() -> None:
    plan = plan_of(
        {"orderId": "9", "action": "cancel"},
        {"orderId": "3", "action": "cancel"},
        {"orderId": "9", "action": "update", "comment": "x"},
        {"orderId": "0", "action": "cancel"},
        {"orderId": "5", "action": "cancel"},
    )
    assert [work.order_id for work in plan.works()] == [9, 3, 5]
    assert sent(plan) == [[2, 0], [1], [4]]
    assert [(i, o, a) for i, o, a in plan.sendable()] == [
        (2, 9, "update"), (0, 9, "cancel"), (1, 3, "cancel"), (4, 5, "cancel"),
    ]  # fmt: skip
    assert [r.code for r in plan.rejections] == [ErrorCode.INVALID_ORDER_ID]
