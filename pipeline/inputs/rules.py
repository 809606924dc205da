"""The rules a whole row must keep beyond its cells' own checks (docs/api.md,
docs/reference/inputs.md).

Each rule yields a problem (`pipeline.inputs.ids.problem`); a row reports all
of them. The country's own rules come from `pipeline.inputs.countries`.

    problems = list(row_rules(row, given={"action", "zip"}, failed=set()))
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic_core import PydanticCustomError

from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.changes import ACTIONS, ADDRESS_TYPES
from pipeline.inputs.columns import ADDRESS_FIELDS
from pipeline.inputs.countries import STATE_REQUIRED, rules_for, state_known, zip_problem
from pipeline.inputs.ids import problem

if TYPE_CHECKING:
    from pipeline.inputs.model import RowModel

_ADDRESS_SET = frozenset(ADDRESS_FIELDS)
_EXTRA_SET = frozenset({"comment", "trackingEnabled", "customAttributes"})


def row_rules(
    row: RowModel,
    given: set[str],
    failed: set[str],
    cleared: frozenset[str] = frozenset(),
) -> Iterator[PydanticCustomError]:
    """Every rule a row breaks beyond its cells' own checks (docs/api.md).

    `given` are the cells that were not empty; `failed` those whose own check
    failed: a rule that needs such a cell's value is not judged (one problem is
    reported once: an invalid country is not also a missing one). `cleared`: the
    address fields the row clears (`#CLEAR`).

    Cells the row's action does not send (a comment on an address row, a name on a
    cancel row) are no problem: they are not sent, and a note names them.
    """
    if row.action is None:
        if "action" not in failed:
            yield problem(
                ErrorCode.MISSING_ACTION,
                "no action: fill the action column (update, address or cancel) or pass --action",
            )
        return
    if row.action not in ACTIONS:
        yield problem(
            ErrorCode.INVALID_ACTION,
            "action '{value}' is not one of update, address, cancel",
            value=row.action,
        )
        return
    if row.addressType is not None and row.addressType not in ADDRESS_TYPES:
        yield problem(
            ErrorCode.INVALID_ADDRESS_TYPE,
            "addressType '{value}' is not one of DELIVERY, INVOICE, DELIVERY_AND_INVOICE",
            value=row.addressType,
        )
    if row.action == "cancel":
        return
    coordinates = {"latitude", "longitude"} & (given | cleared)
    if len(coordinates) == 1 and not coordinates & failed:
        yield problem(
            ErrorCode.INCOMPLETE_COORDINATES,
            "latitude and longitude go together; fill (or #CLEAR) both or neither",
        )
    address = (_ADDRESS_SET & given) | cleared
    extras = _EXTRA_SET & given
    if row.action == "address":
        if not address and not _ADDRESS_SET & failed:
            yield problem(
                ErrorCode.NOTHING_TO_CHANGE,
                "this address row changes nothing; fill the address cells to change"
                " (or #CLEAR to empty one)",
            )
        yield from cleared_problems(row, cleared)
        yield from country_problems(row, given=given, failed=failed)
    if row.action == "update":
        other_type = row.addressType not in (None, "DELIVERY")
        if address and other_type and not extras:
            yield problem(
                ErrorCode.NOTHING_TO_CHANGE,
                "this update row changes nothing: an update changes only the delivery"
                " address; use action 'address' for addressType {value}",
                value=row.addressType,
            )
        elif not (address or extras):
            yield problem(
                ErrorCode.NOTHING_TO_CHANGE,
                "this update row changes nothing; fill comment, trackingEnabled,"
                " customAttributes.* or address cells",
            )
        if address and not other_type:
            yield from cleared_problems(row, cleared)
            yield from country_problems(row, given=given, failed=failed)


# `#CLEAR` in a field every address needs: field -> error code.
_REQUIRED = {
    "street": ErrorCode.MISSING_STREET,
    "city": ErrorCode.MISSING_CITY,
    "countryIso2": ErrorCode.MISSING_COUNTRY,
}


def cleared_problems(row: RowModel, cleared: frozenset[str]) -> Iterator[PydanticCustomError]:
    """`#CLEAR` in a field the address requires makes the row invalid.

    Whether the order keeps a name when the row clears its company (or the
    other way round), or a zip / state the row's country needs, is known once the
    order is read: the send checks the whole merged address.
    """
    if {"name", "company"} <= cleared:
        yield problem(
            ErrorCode.MISSING_NAME,
            "#CLEAR in name and company: an address needs a name or a company; clear at"
            " most one of them",
        )
    for field, code in _REQUIRED.items():
        if field in cleared:
            yield problem(
                code,
                f"#CLEAR in {field}: an address needs a {field}; write the new {field} instead",
            )
    country = row.countryIso2
    if country is None:
        return
    if "zip" in cleared and rules_for(country).postal_code_required:
        yield problem(
            ErrorCode.MISSING_ZIP,
            "#CLEAR in zip: an address in {country} needs a zip; write the new zip instead",
            country=country,
        )
    if "state" in cleared and country in STATE_REQUIRED:
        yield problem(
            ErrorCode.MISSING_STATE,
            "#CLEAR in state: an address in {country} needs a state; write the new state instead",
            country=country,
        )


def country_problems(
    row: RowModel, *, given: set[str], failed: set[str]
) -> Iterator[PydanticCustomError]:
    """The country's own rules (pipeline.inputs.countries) for the zip and state a row
    gives with its country. Fields the row leaves to the order are checked once it is
    read (`pipeline.inputs.changes.merged_address`).
    """
    country = row.countryIso2
    if country is None or "countryIso2" in failed:
        return
    if row.zip is not None:
        wrong = zip_problem(country, row.zip)
        if wrong is not None:
            yield problem(ErrorCode.INVALID_ZIP, wrong.replace("{", "{{").replace("}", "}}"))
    if country in STATE_REQUIRED and row.state is not None and not state_known(country, row.state):
        yield problem(
            ErrorCode.INVALID_STATE,
            "state '{value}' is not a state or province of {country};"
            " use its code (e.g. CA, NY for the US; ON for Canada; NSW for Australia)",
            value=row.state,
            country=country,
        )
