"""Row validation: each rule of docs/reference/inputs.md, on both sides of its boundary."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.changes import Change
from pipeline.inputs.rows import (
    FALSE_WORDS,
    TRUE_WORDS,
    Rejection,
    RowDefaults,
    parse_boolean,
    validate_rows,
)

ADDRESS = {
    "orderId": "4100001",
    "action": "address",
    "name": "Ada",
    "street": "Main 1",
    "city": "Wien",
    "zip": "1010",
    "countryIso2": "AT",
}


def check(row: dict[str, Any], *, action: str | None = None) -> Change | Rejection:
    frame = pl.DataFrame([row], schema=dict.fromkeys(row, pl.String))
    checked = validate_rows(frame, defaults=RowDefaults(action=action))
    return checked.rejections.get(0) or checked.change(0)


def code_of(row: dict[str, Any], **kwargs: Any) -> ErrorCode | None:
    result = check(row, **kwargs)
    return result.code if isinstance(result, Rejection) else None


@pytest.mark.parametrize(
    ("order_id", "code"),
    [
        ("4100001", None),
        ("1", None),
        ("123456.0", None),
        ("9223372036854775807", None),
        ("9223372036854775808", ErrorCode.INVALID_ORDER_ID),  # over 2^63-1
        ("0", ErrorCode.INVALID_ORDER_ID),
        ("-5", ErrorCode.INVALID_ORDER_ID),
        ("1.23457E+11", ErrorCode.INVALID_ORDER_ID),
        ("12a", ErrorCode.INVALID_ORDER_ID),
        ("123.5", ErrorCode.INVALID_ORDER_ID),
        (None, ErrorCode.MISSING_ORDER_ID),
    ],
)
def test_order_ids(order_id: str | None, code: ErrorCode | None) -> None:
    assert code_of({"orderId": order_id, "action": "cancel"}) == code


def test_excel_float_ids_become_integers() -> None:
    result = check({"orderId": "123456.0", "action": "cancel"})
    assert isinstance(result, Change)
    assert result.order_id == 123456


def test_scientific_ids_say_what_happened() -> None:
    result = check({"orderId": "1.23457E+11", "action": "cancel"})
    assert isinstance(result, Rejection)
    assert "Excel's scientific notation" in result.message


@pytest.mark.parametrize(
    ("comment", "code"),
    [
        ("x" * 250, None),
        ("x" * 251, ErrorCode.COMMENT_TOO_LONG),
        ("é" * 250, None),  # one UTF-16 unit each
        ("😀" * 125, None),  # two UTF-16 units each: 250
        ("😀" * 125 + "x", ErrorCode.COMMENT_TOO_LONG),
    ],
)
def test_comment_length_counts_utf16_units_like_the_api(
    comment: str, code: ErrorCode | None
) -> None:
    assert code_of({"orderId": "1", "action": "update", "comment": comment}) == code


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({}, None),
        # A field left empty keeps the order's value (checked once the order is read).
        ({"name": None}, None),
        ({"name": None, "company": "Acme"}, None),
        ({"street": None}, None),
        ({"city": None}, None),
        ({"countryIso2": None}, None),
        ({"countryIso2": "XX"}, ErrorCode.INVALID_COUNTRY),
        ({"countryIso2": "AUT"}, ErrorCode.INVALID_COUNTRY),
        ({"countryIso2": "at"}, None),
        ({"zip": None}, None),
        ({"zip": None, "countryIso2": "IE"}, None),
        ({"countryIso2": "US", "zip": "02134"}, None),
        ({"countryIso2": "US", "zip": "02134", "state": "MA"}, None),
        ({"countryIso2": "CA", "zip": "H3Z 2Y7"}, None),
        ({"countryIso2": "AU", "zip": "2060"}, None),
        # #CLEAR (any case) clears a field; never one the address requires.
        ({"email": "#CLEAR", "phone": "#clear", "street2": " #Clear "}, None),
        ({"name": "#CLEAR"}, None),  # the order may have a company: checked once read
        ({"name": "#CLEAR", "company": "#CLEAR"}, ErrorCode.MISSING_NAME),
        ({"street": "#CLEAR"}, ErrorCode.MISSING_STREET),
        ({"city": "#clear"}, ErrorCode.MISSING_CITY),
        ({"countryIso2": "#CLEAR"}, ErrorCode.MISSING_COUNTRY),
        ({"zip": "#CLEAR"}, ErrorCode.MISSING_ZIP),
        ({"zip": "#CLEAR", "countryIso2": "IE"}, None),
        ({"countryIso2": "US", "zip": "02134", "state": "#CLEAR"}, ErrorCode.MISSING_STATE),
        ({"state": "#CLEAR"}, None),
        ({"latitude": "#CLEAR", "longitude": "#CLEAR"}, None),
        ({"latitude": "#CLEAR"}, ErrorCode.INCOMPLETE_COORDINATES),
        ({"latitude": "48.2"}, ErrorCode.INCOMPLETE_COORDINATES),
        ({"latitude": "90", "longitude": "180"}, None),
        ({"latitude": "-90", "longitude": "-180"}, None),
        ({"latitude": "90.01", "longitude": "0"}, ErrorCode.INVALID_LATITUDE),
        ({"latitude": "0", "longitude": "-180.01"}, ErrorCode.INVALID_LONGITUDE),
        ({"latitude": "north", "longitude": "0"}, ErrorCode.INVALID_LATITUDE),
        ({"latitude": "nan", "longitude": "0"}, ErrorCode.INVALID_LATITUDE),
        ({"latitude": "48,2", "longitude": "16,37"}, None),
        (
            {"street": None, "city": None, "zip": None, "countryIso2": None}
            | {"latitude": "48.2", "longitude": "16.37"},
            None,
        ),
        ({"email": "a@b.at"}, None),
        ({"email": "a(at)b.at"}, ErrorCode.INVALID_EMAIL),
        ({"email": "a@b"}, ErrorCode.INVALID_EMAIL),
        ({"addressType": "invoice"}, None),
        ({"addressType": "HOME"}, ErrorCode.INVALID_ADDRESS_TYPE),
        ({"comment": "hi"}, None),  # not sent with an address row: a note, not an error
    ],
)
def test_address_rows(change: dict[str, Any], code: ErrorCode | None) -> None:
    assert code_of(ADDRESS | change) == code


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ({"comment": "hi"}, None),
        ({"trackingEnabled": "Yes"}, None),
        ({"trackingEnabled": "maybe"}, ErrorCode.INVALID_BOOLEAN),
        ({"customAttributes.giftWrap": "true"}, None),
        ({"city": "Graz"}, None),
        ({"countryIso2": "US"}, None),  # a partial change: the order may have the state
        ({}, ErrorCode.NOTHING_TO_CHANGE),
        # An update sends the delivery address only: the cells are not sent (a note).
        ({"city": "Graz", "addressType": "INVOICE"}, ErrorCode.NOTHING_TO_CHANGE),
        ({"city": "Graz", "addressType": "INVOICE", "comment": "hi"}, None),
    ],
)
def test_update_rows(row: dict[str, Any], code: ErrorCode | None) -> None:
    assert code_of({"orderId": "1", "action": "update"} | row) == code


@pytest.mark.parametrize(
    ("row", "default", "code"),
    [
        ({}, None, ErrorCode.MISSING_ACTION),
        ({}, "cancel", None),
        ({"action": "CANCEL"}, None, None),
        ({"action": "delete"}, "cancel", ErrorCode.INVALID_ACTION),
        ({"action": "cancel", "comment": "why"}, None, None),  # not sent: a note
        ({"action": "cancel", "name": "Ada", "city": "Wien"}, None, None),
    ],
)
def test_actions_come_from_the_row_else_the_default(
    row: dict[str, Any], default: str | None, code: ErrorCode | None
) -> None:
    assert code_of({"orderId": "1"} | row, action=default) == code


def test_an_address_row_with_no_address_cell_changes_nothing() -> None:
    assert code_of({"orderId": "1", "action": "address", "comment": "hi"}) == (
        ErrorCode.NOTHING_TO_CHANGE
    )


def test_cells_an_action_does_not_send_are_left_out_of_its_change() -> None:
    address = check(ADDRESS | {"comment": "ring twice", "email": "#clear"})
    assert isinstance(address, Change)
    assert address.comment is None
    assert address.cleared == ("email",)
    assert "email" not in dict(address.address)
    cancel = check({"orderId": "1", "action": "cancel", "name": "Ada", "comment": "x"})
    assert isinstance(cancel, Change)
    assert (cancel.address, cancel.comment, cancel.cleared) == ((), None, ())


def test_address_type_defaults_to_the_run_default() -> None:
    frame = pl.DataFrame([ADDRESS])
    invoice = validate_rows(frame, defaults=RowDefaults(address_type="INVOICE")).change(0)
    assert isinstance(invoice, Change)
    assert invoice.address_type == "INVOICE"


def test_messages_name_the_value_and_what_to_do() -> None:
    result = check(ADDRESS | {"countryIso2": "XX"})
    assert isinstance(result, Rejection)
    assert result.message == "countryIso2 'XX' is not an ISO 3166 country code"


@given(st.sampled_from(sorted(TRUE_WORDS | FALSE_WORDS)), st.booleans())
def test_booleans_in_any_case(word: str, upper: bool) -> None:
    spelled = word.upper() if upper else word.title()
    assert parse_boolean(spelled) is (word in TRUE_WORDS)


@given(st.text(min_size=1).filter(lambda s: s.casefold() not in TRUE_WORDS | FALSE_WORDS))
def test_anything_else_is_not_a_boolean(word: str) -> None:
    with pytest.raises(ValueError, match="not a yes/no value"):
        parse_boolean(word)


def test_rows_with_the_same_content_share_one_verdict() -> None:
    rows = [{"orderId": str(4100001 + i), "action": "cancel"} for i in range(5)]
    rows.append({"orderId": "x", "action": "cancel"})
    rows.append({"orderId": "4100009", "action": "nope"})
    checked = validate_rows(pl.DataFrame(rows), defaults=RowDefaults())
    assert list(checked.order_ids) == [4100001, 4100002, 4100003, 4100004, 4100005, 0, 4100009]
    assert checked.actions == ["cancel"] * 6 + ["nope"]
    assert {i: r.code for i, r in checked.rejections.items()} == {
        5: ErrorCode.INVALID_ORDER_ID,
        6: ErrorCode.INVALID_ACTION,
    }
    assert checked.change(3).order_id == 4100004
