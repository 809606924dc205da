"""Header matching: forgiving spellings, near misses named, duplicates refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.errors import InputFileError
from pipeline.inputs.columns import (
    CANONICAL,
    edit_distance,
    likely_column,
    match_columns,
    normalize,
)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("orderId", "orderId"),
        ("Order ID", "orderId"),
        ("order_id", "orderId"),
        ("ORDERID", "orderId"),
        ("order-id", "orderId"),
        ("order.id", "orderId"),
        ("\ufeffOrder ID", "orderId"),
        ("Street 2", "street2"),
        ("E-Mail", "email"),
        ("country", "countryIso2"),
        ("Country ISO2", "countryIso2"),
        ("ZIP", "zip"),
        ("Postcode", "zip"),
        ("tracking_enabled", "trackingEnabled"),
        ("customAttributes.giftWrap", "customAttributes.giftWrap"),
        ("custom_attributes.Gift Wrap", "customAttributes.Gift Wrap"),
        ("Address Type", "addressType"),
    ],
)
def test_headers_match_their_canonical_field(header: str, field: str) -> None:
    assert match_columns(["orderId" if field != "orderId" else "x", header]).fields[header] == field


@pytest.mark.parametrize(
    ("header", "guess"),
    [
        ("stret", "street"),
        ("countryIso", "countryIso2"),
        ("cty", "city"),
        ("comemnt", "comment"),
        ("ordrId", "orderId"),
        ("emial", "email"),
    ],
)
def test_near_misses_are_file_errors_naming_the_likely_column(header: str, guess: str) -> None:
    with pytest.raises(InputFileError, match=f"'{header}' looks like '{guess}'"):
        match_columns(["orderId", header], source="fixes.csv")


@pytest.mark.parametrize("header", ["Note", "reason", "Kundennummer", "status", "sku", "qty"])
def test_unrelated_unknown_columns_are_carried(header: str) -> None:
    columns = match_columns(["orderId", header])
    assert columns.unknown == (header,)
    assert header not in columns.fields


def test_report_columns_are_ignored_so_reports_feed_back_in() -> None:
    columns = match_columns(["orderId", "action", "error", "errorCode", "outcome"])
    assert columns.ignored == ("error", "errorCode", "outcome")
    assert columns.unknown == ()


def test_two_columns_with_one_meaning_are_refused() -> None:
    with pytest.raises(InputFileError, match="columns 'Order ID' and 'order_id' both mean orderId"):
        match_columns(["Order ID", "order_id"])


def test_job_mapping_wins_over_the_built_in_names() -> None:
    columns = match_columns(
        ["Bestellung", "Stadt"], mapping={"bestellung": "orderId", "Stadt": "city"}
    )
    assert columns.fields == {"Bestellung": "orderId", "Stadt": "city"}


def test_an_attribute_column_needs_a_key() -> None:
    with pytest.raises(InputFileError, match="names no attribute"):
        match_columns(["orderId", "customAttributes."])


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("abc", "abc", 0),
        ("abc", "abd", 1),
        ("abc", "acb", 1),
        ("stret", "street", 1),
        ("kitten", "sitting", 3),
        ("", "abc", 3),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_short_headers_are_not_guessed() -> None:
    assert likely_column("id") is None


@given(st.sampled_from(CANONICAL), st.lists(st.sampled_from([" ", "_", ".", "-"]), max_size=3))
def test_separators_and_case_never_change_the_match(name: str, separators: list[str]) -> None:
    spelled = "".join(separators) + name.upper() + "".join(separators)
    assert normalize(spelled) == normalize(name)
    header = "x" if name == "orderId" else "orderId"
    assert match_columns([header, spelled]).fields[spelled] == name
