"""Property: an address row changes exactly the fields it names, and undo takes it back.

Random orders, random subsets of address columns, empty cells and `#CLEAR`s (never in
a field the address requires), each address type, against one sandbox whose PUT
replaces the whole address (README "Address corrections").
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.api.payloads import RESPONSE_FIELD
from pipeline.config.options import Options
from pipeline.flows.run import run_files
from pipeline.flows.undo import undo_run
from pipeline.inputs.countries import rules_for
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app, load_orders
from tests.conftest import SAMPLE_ORDERS, env_for, options_for, state_of

EXAMPLES = 30
COORDINATES = ("latitude", "longitude")
TARGETS = {
    "DELIVERY": ("deliveryAddress",),
    "INVOICE": ("invoiceAddress",),
    "DELIVERY_AND_INVOICE": ("deliveryAddress", "invoiceAddress"),
}
# Fields a row may #CLEAR: none the address requires (name stays: orders have no company).
CLEARABLE = ("company", "email", "phone", "street2")
VALUES = {
    "name": ["Anna Gruber", "José Müller", "Ōta Hana"],
    "company": ["Alpenhof GmbH", "Acme"],
    "email": ["anna@example.com", "ops+1@example.org"],
    "phone": ["+43 1 234 56", "0043 660 1"],
    "street": ["Graben 1", "Straße der Einheit 7"],
    "street2": ["Top 4", "2nd floor"],
    "city": ["Wien", "Graz", "Ottawa"],
}
# A new place: country, a zip of it, a state when it needs one.
PLACES = [
    ("AT", "1010", None),
    ("DE", "10115", None),
    ("US", "02134", "MA"),
    ("CA", "K1A 0B1", "ON"),
]
CELL = st.sampled_from(["value", "empty", "clear"])


@st.composite
def rows(draw: st.DrawFn, order_ids: list[int]) -> tuple[int, str, dict[str, str]]:
    """(orderId, addressType, {column: cell}) with at least one cell that names a field."""
    order_id = draw(st.sampled_from(order_ids))
    kind = draw(st.sampled_from(list(TARGETS)))
    cells: dict[str, str] = {}
    for field, values in VALUES.items():
        if not draw(st.booleans()):
            continue  # the column is missing
        choice = draw(CELL)
        if choice == "clear" and field in CLEARABLE:
            cells[field] = draw(st.sampled_from(["#CLEAR", "#clear"]))
        elif choice == "value":
            cells[field] = draw(st.sampled_from(values))
        else:
            cells[field] = ""
    place = draw(st.sampled_from([None, *PLACES]))
    if place is not None:
        country, zip_code, state = place
        cells |= {"countryIso2": country, "zip": zip_code, "state": state or ""}
    coordinates = draw(st.sampled_from([None, "value", "clear"]))
    if coordinates == "value":
        cells |= {"latitude": "48.2082", "longitude": "16,3738"}
    elif coordinates == "clear":
        cells |= {"latitude": "#CLEAR", "longitude": "#CLEAR"}
    if not any(v for v in cells.values()):
        cells["phone"] = VALUES["phone"][0]
    return order_id, kind, cells


def expected_address(
    before: dict[str, Any], cells: dict[str, str], *, invoice: bool
) -> dict[str, Any]:
    """The address a row should leave: named fields set or cleared, the rest as before,
    but coordinates dropped with the old place and a state dropped with the old country."""
    after = dict(before)
    named: set[str] = set()
    for field, cell in cells.items():
        if not cell:
            continue
        named.add(field)
        if invoice and field in COORDINATES:
            continue
        if cell.upper() == "#CLEAR":
            after[RESPONSE_FIELD[field]] = None if field in COORDINATES else ""
        elif field in COORDINATES:
            after[RESPONSE_FIELD[field]] = float(cell.replace(",", "."))
        else:
            after[RESPONSE_FIELD[field]] = cell
    moved = any(
        field in named
        and (after[RESPONSE_FIELD[field]] or "") != (before[RESPONSE_FIELD[field]] or "")
        for field in ("street", "zip", "city", "countryIso2")
    )
    if not invoice and moved and not named & set(COORDINATES):
        after["latitude"] = after["longitude"] = None
    new_country = after["country"] != before["country"]
    state = after.get("state") or ""
    subdivisions = rules_for(after["country"]).subdivisions
    if new_country and "state" not in named and state and state.casefold() not in subdivisions:
        after["state"] = ""
    return after


def same(actual: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    found = []
    for key, value in expected.items():
        got = actual.get(key)
        if isinstance(value, float) or isinstance(got, float):
            if not (
                isinstance(got, float) and isinstance(value, float) and abs(got - value) < 1e-9
            ):
                found.append(f"{key}: {got!r} != {value!r}")
        elif (got or "") != (value or ""):
            found.append(f"{key}: {got!r} != {value!r}")
    return found


@pytest.mark.slow
def test_an_address_row_changes_exactly_what_it_names_and_undo_restores_it(
    tmp_path: Path,
) -> None:
    orders = load_orders(SAMPLE_ORDERS)
    counter = itertools.count()
    seen: list[str] = []  # each example's outcome
    with SandboxThread(create_app(SandboxConfig(cancel_delay_s=60), orders=orders)) as sandbox:
        state = state_of(sandbox)
        processing = [
            order_id
            for order_id in state.store.ids()
            if (state.order(order_id, touch=False) or {}).get("orderStatus") == "PROCESSING"
        ][:40]
        env = env_for(sandbox)
        options = options_for(sandbox, action="address")

        def read(order_id: int) -> dict[str, Any]:
            found = state.order(order_id, touch=False)
            assert found is not None
            copied: dict[str, Any] = json.loads(json.dumps(found))
            return copied

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(rows(processing))
        def check(row: tuple[int, str, dict[str, str]]) -> None:
            order_id, kind, cells = row
            folder = tmp_path / str(next(counter))
            folder.mkdir()
            path = folder / "rows.csv"
            with path.open("w", newline="", encoding="utf-8") as stream:
                writer = csv.writer(stream)
                writer.writerow(["orderId", "addressType", *cells])
                writer.writerow([order_id, kind, *cells.values()])
            before = read(order_id)
            result = run_files([path], options=options, env=env, out=folder / "run")
            [outcome] = result.results["outcome"].to_list()
            assert outcome in ("applied", "unchanged"), result.results.row(0, named=True)
            seen.append(outcome)
            after = read(order_id)
            for target in ("deliveryAddress", "invoiceAddress"):
                if target in TARGETS[kind]:
                    wanted = expected_address(
                        before[target], cells, invoice=target == "invoiceAddress"
                    )
                else:
                    wanted = before[target]  # the other address type is not touched
                assert not same(after[target], wanted), (target, cells, same(after[target], wanted))
            undone = undo_run(folder / "run", env=env, apply=True, overrides=Options(rate=500.0))
            if undone.run is not None:
                assert undone.run.exit_code == 0, undone.run.results.row(0, named=True)
            restored = read(order_id)
            for target in ("deliveryAddress", "invoiceAddress"):
                assert restored[target] == before[target], (target, cells)

        check()
    # The property was tested on real changes, not only on rows the orders already held.
    assert len(seen) >= EXAMPLES
    assert seen.count("applied") >= EXAMPLES // 2, seen
