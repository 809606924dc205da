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

from pipeline.core.changes import ACTIONS, ADDRESS_TYPES
from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.columns import ADDRESS_FIELDS, ATTRIBUTE_PREFIX
from pipeline.inputs.countries import STATE_REQUIRED, rules_for, state_known, zip_problem
from pipeline.inputs.ids import problem

if TYPE_CHECKING:
    from pipeline.inputs.model import RowModel

_ADDRESS_SET = frozenset(ADDRESS_FIELDS)
_EXTRA_SET = frozenset({"comment", "trackingEnabled", "customAttributes"})


def row_rules(row: RowModel, given: set[str], failed: set[str]) -> Iterator[PydanticCustomError]:
    """Every rule a row breaks beyond its cells' own checks (docs/api.md, docs/reference/inputs.md).

    `given` are the cells that were not empty; `failed` those whose own check
    failed: a rule that needs such a cell's value is not judged (one problem is
    reported once: an invalid country is not also a missing one).
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
    coordinates = {"latitude", "longitude"} & given
    if len(coordinates) == 1 and not coordinates & failed:
        yield problem(
            ErrorCode.INCOMPLETE_COORDINATES,
            "latitude and longitude go together; fill both or neither",
        )
    address = _ADDRESS_SET & given
    extras = _EXTRA_SET & given
    if row.action == "cancel" and (address or extras):
        yield problem(
            ErrorCode.UNEXPECTED_FIELDS,
            "a cancel row sends only the cancellation; clear {fields} or make it an update row",
            fields=_named(row, address | extras),
        )
    if row.action == "address":
        if extras:
            yield problem(
                ErrorCode.UNEXPECTED_FIELDS,
                "an address row sends only the address; put {fields} in an update row",
                fields=_named(row, extras),
            )
        yield from address_problems(row, given=given, failed=failed)
    if row.action == "update":
        if not (address or extras):
            yield problem(
                ErrorCode.NOTHING_TO_CHANGE,
                "this update row changes nothing; fill comment, trackingEnabled,"
                " customAttributes.* or address cells",
            )
        if address and row.addressType not in (None, "DELIVERY"):
            yield problem(
                ErrorCode.UNEXPECTED_FIELDS,
                "an update changes only the delivery address; use action 'address'"
                " for addressType {value}",
                value=row.addressType,
            )
        elif address:
            yield from country_problems(row, given=given, failed=failed)


def _named(row: RowModel, fields: set[str] | frozenset[str]) -> str:
    """Field names in column order, attributes spelled out: `city, customAttributes.x`."""
    order = list(type(row).model_fields)
    names = []
    for name in sorted(fields, key=order.index):
        if name == "customAttributes":
            names += [ATTRIBUTE_PREFIX + key for key in row.customAttributes or {}]
        else:
            names.append(name)
    return ", ".join(names)


def address_problems(
    row: RowModel, *, given: set[str], failed: set[str]
) -> Iterator[PydanticCustomError]:
    """The API's rules for a whole new address (docs/api.md), then the country's."""
    if row.name is None and row.company is None and not {"name", "company"} & failed:
        yield problem(ErrorCode.MISSING_NAME, "the address needs a name or a company")
    located = {"latitude", "longitude"} <= given
    if not located:
        for field, code in (
            ("street", ErrorCode.MISSING_STREET),
            ("city", ErrorCode.MISSING_CITY),
            ("countryIso2", ErrorCode.MISSING_COUNTRY),
        ):
            if getattr(row, field) is None and field not in failed:
                yield problem(code, f"the address needs {field} (or both latitude and longitude)")
    yield from country_problems(row, given=given, failed=failed, whole=True, located=located)


def country_problems(
    row: RowModel,
    *,
    given: set[str],
    failed: set[str],
    whole: bool = False,
    located: bool = False,
) -> Iterator[PydanticCustomError]:
    """The country's own rules (pipeline.inputs.countries): zip required and shaped, state.

    `whole`: the row is a whole new address (an update may set only some fields).
    """
    country = row.countryIso2
    if country is None or "countryIso2" in failed:
        return
    if row.zip is None:
        if whole and not located and rules_for(country).postal_code_required:
            yield problem(
                ErrorCode.MISSING_ZIP,
                "the address needs a zip for country {country}",
                country=country,
            )
    else:
        wrong = zip_problem(country, row.zip)
        if wrong is not None:
            yield problem(ErrorCode.INVALID_ZIP, wrong.replace("{", "{{").replace("}", "}}"))
    if country in STATE_REQUIRED:
        if row.state is None:
            if whole:
                yield problem(
                    ErrorCode.MISSING_STATE,
                    "the address needs a state for country {country}",
                    country=country,
                )
        elif not state_known(country, row.state):
            yield problem(
                ErrorCode.INVALID_STATE,
                "state '{value}' is not a state or province of {country};"
                " use its code (e.g. CA, NY for the US; ON for Canada; NSW for Australia)",
                value=row.state,
                country=country,
            )
