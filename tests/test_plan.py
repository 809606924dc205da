"""Planning: conflicts rejected with each other's rows, duplicates folded, order kept."""

from __future__ import annotations

from pipeline.changes import Change
from pipeline.outcomes import ErrorCode
from pipeline.plan import plan_changes


def locate(index: int) -> str:
    return f"row {index + 1}"


def update(index: int, order_id: int, **fields: object) -> Change:
    return Change(index=index, order_id=order_id, action="update", address_type=None, **fields)  # type: ignore[arg-type]


def cancel(index: int, order_id: int) -> Change:
    return Change(index=index, order_id=order_id, action="cancel", address_type=None)


def address(index: int, order_id: int, city: str, kind: str = "DELIVERY") -> Change:
    return Change(
        index=index,
        order_id=order_id,
        action="address",
        address_type=kind,
        address=(("name", "Ada"), ("street", "Main 1"), ("city", city), ("countryIso2", "AT")),
    )


def test_conflicting_rows_are_both_rejected_naming_each_other() -> None:
    plan = plan_changes([update(0, 7, comment="a"), update(1, 7, comment="b")], locate=locate)
    assert plan.orders == ()
    assert [r.code for r in plan.rejections] == [ErrorCode.CONFLICTING_ROWS] * 2
    assert "row 2 sets it to 'b'" in plan.rejections[0].message
    assert "row 1 sets it to 'a'" in plan.rejections[1].message


def test_an_exact_duplicate_is_sent_once() -> None:
    plan = plan_changes([update(0, 7, comment="a"), update(1, 7, comment="a")], locate=locate)
    assert [c.index for c in plan.orders[0].changes] == [0]
    assert [(d.index, d.original) for d in plan.duplicates] == [(1, 0)]


def test_a_duplicate_of_a_conflicting_row_is_rejected_too() -> None:
    rows = [update(0, 7, comment="a"), update(1, 7, comment="a"), update(2, 7, comment="b")]
    plan = plan_changes(rows, locate=locate)
    assert sorted(r.index for r in plan.rejections) == [0, 1, 2]
    assert plan.duplicates == ()


def test_different_fields_of_one_order_do_not_conflict_and_run_in_input_order() -> None:
    rows = [cancel(0, 7), update(1, 7, comment="a"), update(2, 7, tracking_enabled=True)]
    plan = plan_changes(rows, locate=locate)
    assert [c.index for c in plan.orders[0].changes] == [1, 2, 0]  # the cancel goes last


def test_an_address_row_claims_the_whole_address() -> None:
    rows = [update(0, 7, address=(("city", "Graz"),)), address(1, 7, "Wien")]
    plan = plan_changes(rows, locate=locate)
    assert {r.index for r in plan.rejections} == {0, 1}
    assert "city is 'Graz' here but row 2 sets it to 'Wien'" in plan.rejections[0].message


def test_delivery_and_invoice_addresses_are_different_fields() -> None:
    rows = [address(0, 7, "Wien", "DELIVERY"), address(1, 7, "Graz", "INVOICE")]
    plan = plan_changes(rows, locate=locate)
    assert plan.rejections == ()
    assert len(plan.orders[0].changes) == 2


def test_orders_keep_their_first_appearance_order() -> None:
    rows = [cancel(0, 9), cancel(1, 3), update(2, 9, comment="x"), cancel(3, 5)]
    plan = plan_changes(rows, locate=locate)
    assert [w.order_id for w in plan.orders] == [9, 3, 5]
