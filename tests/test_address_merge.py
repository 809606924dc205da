"""Address rows change exactly the fields they name (README "Address corrections").

Against the sandbox, whose PUT replaces the whole address: the client must send the
order's current address with the row's fields laid over it.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import SecretStr

from pipeline.api.answers import Answer
from pipeline.api.payloads import RESPONSE_FIELD
from pipeline.api.profile import ApiProfile
from pipeline.config.settings import RunOptions
from pipeline.core.outcomes import ErrorCode, Outcome
from pipeline.flows.plan import plan_files
from pipeline.flows.run import run_files, validate_files
from pipeline.inputs.address import Value, merged_address, request_address
from pipeline.inputs.changes import Change
from pipeline.inputs.rows import RowDefaults, validate_rows
from pipeline.sandbox import Faults, SandboxThread
from pipeline.send.judge import Refetch, judge
from tests.conftest import (
    API_KEY,
    PASSWORD,
    USERNAME,
    env_for,
    options_for,
    order_ids,
    state_of,
)


def order(sandbox: SandboxThread, order_id: int) -> dict[str, Any]:
    found = state_of(sandbox).order(order_id, touch=False)
    assert found is not None
    return found


def test_a_five_column_correction_keeps_email_phone_and_street2(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    """The issue's scenario as printed: order 4100001, a 5-column file, --action address."""
    before = order(sandbox, 4100001)["deliveryAddress"].copy()
    for field in ("email", "phone", "address2"):  # something to lose
        assert before[field], field
    path = tmp_path / "fixes.csv"
    path.write_text(
        "orderId,name,street,zip,city,countryIso2\n"
        "4100001,Marie Gruber,Mariahilfer Straße 12,1070,Wien,AT\n"
    )
    result = run_files(
        [path],
        options=options_for(sandbox, action="address"),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert result.exit_code == 0
    assert result.results["outcome"].to_list() == ["applied"]
    after = order(sandbox, 4100001)["deliveryAddress"]
    for kept in ("email", "phone", "address2", "name1", "company"):
        assert after[kept] == before[kept], kept
    assert (after["address1"], after["zip"], after["city"], after["country"]) == (
        "Mariahilfer Straße 12",
        "1070",
        "Wien",
        "AT",
    )
    changes = result.results["changes"].to_list()[0]
    assert "street: King St W 178 -> Mariahilfer Straße 12" in changes
    assert "zip: M5V 2T6 -> 1070" in changes
    assert "city: Toronto -> Wien" in changes
    assert "countryIso2: CA -> AT" in changes
    # ON is a province of Canada, not of Austria: dropped, and said so.
    assert "state: ON -> (empty)" in changes
    assert after["state"] == ""
    for untouched in ("email", "phone", "street2", "name:"):
        assert untouched not in changes


# --- the merge itself: a pure function, by table -----------------------------------------

CURRENT = {
    "name1": "Marie Gruber",
    "name2": "",
    "company": "",
    "address1": "King St W 178",
    "address2": "Top 4",
    "address3": "",
    "zip": "M5V 2T6",
    "city": "Toronto",
    "state": "ON",
    "country": "CA",
    "phone": "+43 660 3078063",
    "email": "marie@example.com",
    "latitude": 43.6,
    "longitude": -79.4,
}


@pytest.mark.parametrize(
    ("given", "cleared", "body", "changes", "dropped", "code"),
    [
        # A field the row does not name keeps its value; only what differs is a change.
        (
            {"city": "Toronto", "phone": "+1 416 000"},
            set(),
            {"phone": "+1 416 000", "latitude": 43.6},
            [("phone", "+43 660 3078063", "+1 416 000")],
            (),
            None,
        ),
        # #CLEAR empties a field; it is no longer in the body (a PUT replaces the address).
        (
            {},
            {"street2", "email"},
            {"email": None, "street2": None},
            [("email", "marie@example.com", ""), ("street2", "Top 4", "")],
            (),
            None,
        ),
        # A new street moves the address: the old coordinates are dropped...
        (
            {"street": "Queen St 1"},
            set(),
            {"street": "Queen St 1", "latitude": None, "longitude": None},
            [
                ("street", "King St W 178", "Queen St 1"),
                ("latitude", 43.6, ""),
                ("longitude", -79.4, ""),
            ],
            ("latitude", "longitude"),
            None,
        ),
        # ... unless the row gives new ones.
        (
            {"street": "Queen St 1", "latitude": 43.7, "longitude": -79.3},
            set(),
            {"street": "Queen St 1", "latitude": 43.7},
            [
                ("street", "King St W 178", "Queen St 1"),
                ("latitude", 43.6, 43.7),
                ("longitude", -79.4, -79.3),
            ],
            (),
            None,
        ),
        # A new country: the old country's state is dropped (AT needs none).
        (
            {"countryIso2": "AT", "zip": "1010", "city": "Wien"},
            set(),
            {"state": None, "countryIso2": "AT", "email": "marie@example.com"},
            None,
            ("latitude", "longitude", "state"),
            None,
        ),
        # A new country that needs a state the row does not give: refused, said why.
        (
            {"countryIso2": "US", "zip": "02134", "city": "Boston"},
            set(),
            {"state": None},
            None,
            ("latitude", "longitude", "state"),
            ErrorCode.MISSING_STATE,
        ),
        # The kept zip does not fit the new country.
        ({"countryIso2": "AT", "city": "Wien"}, set(), {}, None, None, ErrorCode.INVALID_ZIP),
        # Clearing the name of an order without a company leaves no name.
        ({}, {"name"}, {}, None, None, ErrorCode.MISSING_NAME),
        # A state of the order's country is checked against it.
        ({"state": "NY"}, set(), {}, None, None, ErrorCode.INVALID_STATE),
        ({"state": "QC"}, set(), {"state": "QC"}, [("state", "ON", "QC")], (), None),
    ],
)
def test_merged_address(
    given: dict[str, Value],
    cleared: set[str],
    body: dict[str, Value | None],
    changes: list[tuple[str, Any, Any]] | None,
    dropped: tuple[str, ...] | None,
    code: ErrorCode | None,
) -> None:
    merged = merged_address(CURRENT, given, frozenset(cleared))
    assert (merged.problem[0] if merged.problem else None) == code, merged.problem
    for field, value in body.items():
        assert merged.body.get(field) == value, field
    if changes is not None:
        assert list(merged.changes) == changes
    if dropped is not None:
        assert merged.dropped == dropped
    # Everything the row does not name and that is not dropped is kept as it was.
    kept = set(RESPONSE_FIELD) - set(given) - cleared - set(merged.dropped)
    for field in kept:
        assert merged.body.get(field) == request_address(CURRENT).get(field), field


def test_an_invoice_address_holds_no_coordinates() -> None:
    merged = merged_address(
        {**CURRENT}, {"latitude": 1.0, "longitude": 2.0, "city": "Ottawa"}, invoice=True
    )
    assert "latitude" not in merged.body
    assert merged.body["city"] == "Ottawa"
    assert merged.body["email"] == "marie@example.com"


def test_delivery_and_invoice_that_differ_keep_their_own_values() -> None:
    order = {
        "deliveryAddress": CURRENT,
        "invoiceAddress": {**CURRENT, "email": "billing@example.com", "latitude": None},
    }
    change = Change(0, 1, "address", "DELIVERY_AND_INVOICE", address=(("city", "Ottawa"),))
    planned = change.plan_address(order)
    assert [w.address_type for w in planned.writes] == ["DELIVERY", "INVOICE"]
    assert planned.writes[0].body["email"] == "marie@example.com"
    assert planned.writes[1].body["email"] == "billing@example.com"
    assert planned.note is not None
    assert "differ in email" in planned.note
    requests = change.requests(ApiProfile(), order)
    assert [r.params for r in requests] == [{"type": "DELIVERY"}, {"type": "INVOICE"}]
    same = {"deliveryAddress": CURRENT, "invoiceAddress": CURRENT}
    [both] = change.plan_address(same).writes
    assert both.address_type == "DELIVERY_AND_INVOICE"


def test_an_update_row_sends_the_whole_delivery_address_with_emptied_fields_as_empty() -> None:
    order = {"deliveryAddress": CURRENT}
    change = Change(0, 1, "update", None, comment="hi", cleared=("street2",))
    request = change.request(ApiProfile(), order)
    assert request.method == "PATCH"
    assert request.body is not None
    address = request.body["address"]
    assert address["street2"] == ""  # a PATCH that merges empties it too
    assert address["email"] == "marie@example.com"
    assert address["street"] == "King St W 178"
    assert request.body["comment"] == "hi"


def test_a_kept_field_the_api_emptied_anyway_is_unverified_naming_it() -> None:
    before = {"orderStatus": "PROCESSING", "deliveryAddress": CURRENT}
    change = Change(0, 1, "address", "DELIVERY", address=(("city", "Ottawa"),))
    expected = change.expectations(before)
    after = {
        "orderStatus": "PROCESSING",
        "deliveryAddress": {**CURRENT, "city": "Ottawa", "email": ""},
    }
    answer = Answer(204, None, None, "", 1, 3.0)
    result = judge(change, answer, Refetch(after), expected=expected)
    assert result.outcome is Outcome.UNVERIFIED
    assert result.error is not None
    assert "deliveryAddress.email (a field the row does not name)" in result.error
    # The new city moves the address: its old coordinates are dropped.
    moved = {**CURRENT, "city": "Ottawa", "latitude": None, "longitude": None}
    landed = {"orderStatus": "PROCESSING", "deliveryAddress": moved}
    assert judge(change, answer, Refetch(landed), expected=expected).outcome is Outcome.APPLIED


# --- cells the action does not send --------------------------------------------------------


def test_a_shop_workbook_with_a_filled_kommentar_column_sends_the_addresses_only(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    ids = order_ids(sandbox, "PROCESSING", 6)
    comments_before = {i: order(sandbox, i)["comment"] for i in ids}
    book = tmp_path / "shop.xlsx"
    pl.DataFrame(
        {
            "Bestellnummer": [str(order(sandbox, i)["orderIdentifier"]) for i in ids],
            "Empfänger": [f"Kundin {n}" for n in range(6)],
            "Straße": [f"Ringstraße {n}" for n in range(6)],
            # A comment too long to send (300 characters) is no reason to refuse an
            # address row that does not send it (the browser trial's row 10).
            "Kommentar": ["bitte klingeln", "", "Hintereingang", "", "", "x" * 300],
        }
    ).write_excel(book)
    result = run_files(
        [book],
        options=options_for(sandbox, action="address"),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert result.results["outcome"].to_list() == ["applied"] * 6
    assert result.exit_code == 0
    # One note for the column, not an error per row.
    [note] = [w for w in result.warnings if "'Kommentar' is not sent" in w]
    assert note.startswith("note: ")
    assert note.endswith(
        "shop.xlsx: 'Kommentar' is not sent with address rows (3 rows); an update row sends it"
    )
    stats = state_of(sandbox).stats.by_order
    for n, order_id in enumerate(ids):
        assert "patch" not in stats[order_id]  # nothing but the address went out
        now = order(sandbox, order_id)
        assert now["comment"] == comments_before[order_id]
        assert now["deliveryAddress"]["address1"] == f"Ringstraße {n}"
    plan = plan_files(
        [book],
        options=options_for(sandbox, action="address"),
        env=env_for(sandbox),
        out=tmp_path / "plan",
    )
    reasons = plan.plan["reason"].to_list()
    assert reasons == [
        "the order already holds this; not sent: 'Kommentar'",
        "the order already holds this",
        "the order already holds this; not sent: 'Kommentar'",
        "the order already holds this",
        "the order already holds this",
        "the order already holds this; not sent: 'Kommentar'",
    ]


def test_a_cancel_sheet_with_the_customer_name_beside_each_order_is_valid(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    ids = order_ids(sandbox, "PROCESSING", 4)
    names = {i: order(sandbox, i)["deliveryAddress"]["name1"] for i in ids}
    sheet = tmp_path / "cancel.csv"
    sheet.write_text("orderId,Name\n" + "".join(f"{i},Someone Else {i}\n" for i in ids))
    result = run_files(
        [sheet],
        options=options_for(sandbox, action="cancel"),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert result.results["outcome"].to_list() == ["applied"] * 4
    [note] = [w for w in result.warnings if "'Name' is not sent" in w]
    assert note.endswith(
        "cancel.csv: 'Name' is not sent with cancel rows (4 rows); an update or address row"
        " sends it"
    )
    for order_id in ids:
        assert set(state_of(sandbox).stats.by_order[order_id]) <= {"cancel", "refetch", "get"}
        assert order(sandbox, order_id)["deliveryAddress"]["name1"] == names[order_id]


# --- bad input: a clear message, nothing sent, nothing lost ------------------------------


def run_address(
    sandbox: SandboxThread, tmp_path: Path, text: str, **cli: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    path = tmp_path / "rows.csv"
    path.write_text(text)
    result = run_files(
        [path],
        options=options_for(sandbox, action="address", **cli),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    return list(result.results.iter_rows(named=True)), result.summary


def sent_to(sandbox: SandboxThread, order_id: int) -> dict[str, int]:
    counts = state_of(sandbox).stats.by_order.get(order_id, {})
    return {k: v for k, v in counts.items() if k in ("address", "patch", "cancel")}


def test_clear_in_a_required_field_makes_the_row_invalid(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    before = order(sandbox, 4100001)["deliveryAddress"].copy()
    [street, state] = run_address(
        sandbox,
        tmp_path,
        "orderId,street,state,countryIso2,zip,city\n"
        "4100001,#clear,,,,\n"
        "4100003,,#CLEAR,US,02134,Boston\n",
    )[0]
    assert (street["outcome"], street["errorCode"]) == ("invalid", "missing_street")
    assert (
        street["error"]
        == "#CLEAR in street: an address needs a street; write the new street instead"
    )
    assert (state["outcome"], state["errorCode"]) == ("invalid", "missing_state")
    assert "#CLEAR in state: an address in US needs a state" in state["error"]
    assert sent_to(sandbox, 4100001) == sent_to(sandbox, 4100003) == {}
    assert order(sandbox, 4100001)["deliveryAddress"] == before


def test_a_new_country_with_a_state_of_the_old_one_is_refused_before_sending(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    """Order 4100001 is in Ontario, Canada: moved to the US, its state ON cannot stay."""
    before = order(sandbox, 4100001)["deliveryAddress"].copy()
    [row], _ = run_address(
        sandbox,
        tmp_path,
        "orderId,street,zip,city,countryIso2\n4100001,Main St 1,02134,Boston,US\n",
    )
    assert (row["outcome"], row["errorCode"]) == ("failed", "missing_state")
    assert row["error"] == (
        "the order's state 'ON' belongs to its old country CA, not to US; give the row a"
        " state of US; nothing sent"
    )
    assert sent_to(sandbox, 4100001) == {}
    assert order(sandbox, 4100001)["deliveryAddress"] == before


def test_an_order_that_cannot_be_read_gets_nothing_sent(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    rows, summary = run_address(sandbox, tmp_path, "orderId,city\n9999999,Wien\n", snapshot="never")
    [missing] = rows
    assert (missing["outcome"], missing["errorCode"]) == ("failed", "order_not_found")
    assert missing["error"].endswith("nothing sent")
    # Whatever --snapshot says, an address row reads its order first.
    assert summary.requests_by_kind["read"] == 1
    assert summary.requests_by_kind["mutation"] == 0


def test_a_server_error_on_the_read_fails_the_row_and_sends_nothing(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    state = state_of(sandbox)
    config = state.config
    login = urllib.request.Request(
        sandbox.base_url + "/login",
        data=json.dumps({"username": USERNAME, "password": PASSWORD}).encode(),
        headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(login) as answer:  # loopback only
        token = json.loads(answer.read())["token"]
    sandbox.call(lambda: setattr(state, "config", replace(config, faults=Faults(error_share=1.0))))
    path = tmp_path / "rows.csv"
    path.write_text("orderId,city\n4100002,Wien\n")
    result = run_files(
        [path],
        options=options_for(sandbox, action="address", retries=0),
        env=env_for(sandbox).model_copy(update={"token": SecretStr(token)}),
        out=tmp_path / "run",
    )
    sandbox.call(lambda: setattr(state, "config", config))
    [row] = result.results.iter_rows(named=True)
    assert row["outcome"] == "failed"
    assert row["errorCode"] == "server_error"
    assert row["error"].startswith("the order could not be read before changing it")
    assert row["error"].endswith("nothing sent")
    assert sent_to(sandbox, 4100002) == {}


def test_both_address_types_on_an_order_without_an_invoice_address(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    state = state_of(sandbox)
    sandbox.call(lambda: state.order(4100002, touch=False).update(invoiceAddress=None))  # type: ignore[union-attr]
    before = order(sandbox, 4100002)["deliveryAddress"].copy()
    [row], _ = run_address(
        sandbox,
        tmp_path,
        "orderId,addressType,city\n4100002,DELIVERY_AND_INVOICE,Wien\n",
    )
    assert (row["outcome"], row["errorCode"]) == ("failed", "no_invoice_address")
    assert "the order has no invoice address" in row["error"]
    assert "use addressType DELIVERY" in row["error"]
    assert sent_to(sandbox, 4100002) == {}
    assert order(sandbox, 4100002)["deliveryAddress"] == before


def test_both_address_types_that_differ_go_out_as_one_put_each(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    state = state_of(sandbox)
    billing = "billing.4100002@example.com"
    sandbox.call(lambda: state.order(4100002, touch=False)["invoiceAddress"].update(email=billing))  # type: ignore[index]
    delivery_email = order(sandbox, 4100002)["deliveryAddress"]["email"]
    [row], _ = run_address(
        sandbox,
        tmp_path,
        "orderId,addressType,phone\n4100002,DELIVERY_AND_INVOICE,+43 1 555\n",
    )
    assert row["outcome"] == "applied"
    assert "differ in email; each keeps its own: sent as one PUT per type" in row["changes"]
    now = order(sandbox, 4100002)
    assert now["deliveryAddress"]["email"] == delivery_email
    assert now["invoiceAddress"]["email"] == billing
    assert now["deliveryAddress"]["phone"] == now["invoiceAddress"]["phone"] == "+43 1 555"
    assert sent_to(sandbox, 4100002) == {"address": 2}


def test_notes_name_each_column_an_action_does_not_send(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "orderId,action,addressType,city,comment,customAttributes.gift\n"
        "4100001,update,INVOICE,Graz,hi,yes\n"
        "4100002,update,,Graz,,yes\n"
        "4100003,cancel,,,why,\n"
        "4100004,address,,Wien,,yes\n"
    )
    result = validate_files([path], options=RunOptions(), out=tmp_path / "check")
    assert result.results["outcome"].to_list() == ["dry_run"] * 4
    notes = sorted(w.split("mixed.csv: ", 1)[1] for w in result.warnings if "not sent" in w)
    assert notes == [
        "'city' is not sent with update rows for another addressType (1 row); an address"
        " row sends it",
        "'comment' is not sent with cancel rows (1 row); an update row sends it",
        "'customAttributes.gift' is not sent with address rows (1 row); an update row sends it",
    ]
    checked = validate_rows(
        pl.read_csv(path, infer_schema=False).rename({"customAttributes.gift": "x"}),
        defaults=RowDefaults(),
    )
    assert checked.change(0).address == ()  # the invoice city of an update is not sent
    assert checked.change(0).comment == "hi"
