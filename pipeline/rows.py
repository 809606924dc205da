"""Validate input rows with pydantic before anything is sent (SPEC §4).

Each rule raises a `PydanticCustomError` whose type is the row's stable
`errorCode`, with a message a person can act on. Valid rows become `Change`s,
invalid ones `Rejection`s; both keep their index in the input table.

    checked = validate_rows(table.fields, defaults=RowDefaults(action="cancel"))
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import polars as pl
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pipeline.changes import ACTIONS, ADDRESS_TYPES, Change
from pipeline.columns import ADDRESS_FIELDS, ATTRIBUTE_PREFIX
from pipeline.countries import ISO_ALPHA2, NO_POSTAL_CODE, STATE_REQUIRED
from pipeline.outcomes import ErrorCode

COMMENT_MAX_UNITS = 250
MAX_ORDER_ID = 2**63 - 1
TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0"})
_DIGITS = re.compile(r"\d+")
_EXCEL_FLOAT = re.compile(r"(\d+)\.0*")
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")
_TEXT_ADDRESS_FIELDS = tuple(f for f in ADDRESS_FIELDS if f not in ("latitude", "longitude"))


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input row that will not be sent, with why."""

    index: int
    order_id: int | None
    action: str | None
    code: ErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class RowDefaults:
    """Where a row's own cell is empty: the run's --action / --address-type."""

    action: str | None = None
    address_type: str = "DELIVERY"


def _error(code: ErrorCode, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(code.value, message, context)


def utf16_units(text: str) -> int:
    """Length as the API counts it (Java strings: UTF-16 code units; emoji count twice)."""
    return len(text.encode("utf-16-le")) // 2


def parse_order_id(value: str | None) -> int:
    """The order ID in a cell; raises the row's error (missing / invalid) as its code."""
    if value is not None and value.isdigit() and len(value) < 19 and value[0] != "0":
        return int(value)  # the common case, without regular expressions
    if value is None:
        raise _error(ErrorCode.MISSING_ORDER_ID, "orderId is empty; every row needs the order's ID")
    digits = value
    if not _DIGITS.fullmatch(value):
        excel = _EXCEL_FLOAT.fullmatch(value)
        if excel:
            digits = excel.group(1)
        elif _SCIENTIFIC.fullmatch(value):
            raise _error(
                ErrorCode.INVALID_ORDER_ID,
                "orderId '{value}' lost its digits to Excel's scientific notation;"
                " format the column as text and export again",
                value=value,
            )
        else:
            raise _error(
                ErrorCode.INVALID_ORDER_ID,
                "orderId '{value}' is not a positive whole number",
                value=value,
            )
    order_id = int(digits)
    if not 0 < order_id <= MAX_ORDER_ID:
        raise _error(
            ErrorCode.INVALID_ORDER_ID,
            "orderId '{value}' is out of range (1 to 2^63-1)",
            value=value,
        )
    return order_id


def parse_boolean(value: str | None) -> bool | None:
    if value is None:
        return None
    word = value.casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _error(
        ErrorCode.INVALID_BOOLEAN,
        "trackingEnabled '{value}' is not a yes/no value; write true/false, yes/no, y/n or 1/0",
        value=value,
    )


def _check_comment(value: str | None) -> str | None:
    if value is not None and utf16_units(value) > COMMENT_MAX_UNITS:
        raise _error(
            ErrorCode.COMMENT_TOO_LONG,
            "comment is {units} characters long; the API allows at most 250",
            units=utf16_units(value),
        )
    return value


def _check_country(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.upper()
    if code not in ISO_ALPHA2:
        hint = "; use the two-letter code (AT, DE, US, ...)" if len(code) != 2 else ""
        raise _error(
            ErrorCode.INVALID_COUNTRY,
            "countryIso2 '{value}' is not an ISO 3166 country code" + hint,
            value=value,
        )
    return code


def _check_email(value: str | None) -> str | None:
    if value is not None and not _EMAIL.fullmatch(value):
        raise _error(
            ErrorCode.INVALID_EMAIL, "email '{value}' is not an email address", value=value
        )
    return value


def _coordinate(name: str, code: ErrorCode, limit: int) -> BeforeValidator:
    def check(value: str | None) -> float | None:
        if value is None:
            return None
        text = value.replace(",", ".") if _DECIMAL_COMMA.fullmatch(value) else value
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or not -limit <= number <= limit:
            raise _error(
                code, f"{name} {'{value}'} is not a number from -{limit} to {limit}", value=value
            )
        return number

    return BeforeValidator(check)


Text = str | None


class RowModel(BaseModel):
    """One input row after header matching, but its orderId (checked by `parse_order_id`);
    cells are stripped text or None."""

    model_config = ConfigDict(frozen=True)

    action: Text = None
    addressType: Text = None
    comment: Annotated[Text, AfterValidator(_check_comment)] = None
    trackingEnabled: Annotated[bool | None, BeforeValidator(parse_boolean)] = None
    customAttributes: dict[str, str] | None = None
    name: Text = None
    company: Text = None
    email: Annotated[Text, AfterValidator(_check_email)] = None
    phone: Text = None
    street: Text = None
    street2: Text = None
    city: Text = None
    zip: Text = None
    state: Text = None
    countryIso2: Annotated[Text, AfterValidator(_check_country)] = None
    latitude: Annotated[float | None, _coordinate("latitude", ErrorCode.INVALID_LATITUDE, 90)] = (
        None
    )
    longitude: Annotated[
        float | None, _coordinate("longitude", ErrorCode.INVALID_LONGITUDE, 180)
    ] = None

    @model_validator(mode="after")
    def _rules(self) -> RowModel:
        fields: dict[str, Any] = self.__dict__
        if self.action is None:
            raise _error(
                ErrorCode.MISSING_ACTION,
                "no action: fill the action column (update, address or cancel) or pass --action",
            )
        if self.action not in ACTIONS:
            raise _error(
                ErrorCode.INVALID_ACTION,
                "action '{value}' is not one of update, address, cancel",
                value=self.action,
            )
        if self.addressType is not None and self.addressType not in ADDRESS_TYPES:
            raise _error(
                ErrorCode.INVALID_ADDRESS_TYPE,
                "addressType '{value}' is not one of DELIVERY, INVOICE, DELIVERY_AND_INVOICE",
                value=self.addressType,
            )
        if (self.latitude is None) != (self.longitude is None):
            raise _error(
                ErrorCode.INCOMPLETE_COORDINATES,
                "latitude and longitude go together; fill both or neither",
            )
        address = [f for f in ADDRESS_FIELDS if fields[f] is not None]
        extras = [f for f in ("comment", "trackingEnabled") if fields[f] is not None]
        extras += [ATTRIBUTE_PREFIX + key for key in self.customAttributes or {}]
        if self.action == "cancel" and (address or extras):
            raise _error(
                ErrorCode.UNEXPECTED_FIELDS,
                "a cancel row sends only the cancellation; clear {fields} or make it an update row",
                fields=", ".join(address + extras),
            )
        if self.action == "address":
            if extras:
                raise _error(
                    ErrorCode.UNEXPECTED_FIELDS,
                    "an address row sends only the address; put {fields} in an update row",
                    fields=", ".join(extras),
                )
            _address_rules(self)
        if self.action == "update":
            if not (address or extras):
                raise _error(
                    ErrorCode.NOTHING_TO_CHANGE,
                    "this update row changes nothing; fill comment, trackingEnabled,"
                    " customAttributes.* or address cells",
                )
            if address and self.addressType not in (None, "DELIVERY"):
                raise _error(
                    ErrorCode.UNEXPECTED_FIELDS,
                    "an update changes only the delivery address; use action 'address'"
                    " for addressType {value}",
                    value=self.addressType,
                )
        return self


def _address_rules(row: RowModel) -> None:
    """The API's rules for a whole new address (SPEC §2)."""
    if row.name is None and row.company is None:
        raise _error(ErrorCode.MISSING_NAME, "the address needs a name or a company")
    located = row.latitude is not None and row.longitude is not None
    if not located:
        for field, code in (
            ("street", ErrorCode.MISSING_STREET),
            ("city", ErrorCode.MISSING_CITY),
            ("countryIso2", ErrorCode.MISSING_COUNTRY),
        ):
            if getattr(row, field) is None:
                raise _error(code, f"the address needs {field} (or both latitude and longitude)")
        if row.zip is None and row.countryIso2 not in NO_POSTAL_CODE:
            raise _error(
                ErrorCode.MISSING_ZIP,
                "the address needs a zip for country {country}",
                country=row.countryIso2,
            )
    if row.countryIso2 in STATE_REQUIRED and row.state is None:
        raise _error(
            ErrorCode.MISSING_STATE,
            "the address needs a state for country {country}",
            country=row.countryIso2,
        )


SLICE_ROWS = 50_000  # rows turned into Python objects at a time
CACHE_LIMIT = 100_000  # distinct row contents remembered at a time


@dataclass(frozen=True, slots=True)
class _Content:
    """A validated row without its orderId: everything a Change needs but index and ID."""

    action: str
    address_type: str | None
    comment: str | None
    tracking_enabled: bool | None
    custom_attributes: tuple[tuple[str, str], ...]
    address: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class _Refusal:
    action: str | None
    code: ErrorCode
    message: str


def _row_data(
    names: list[str], attributes: list[str], cells: tuple[Any, ...], defaults: RowDefaults
) -> dict[str, Any]:
    """The model's input for one row's cells (orderId excluded)."""
    data = {name: cell for name, cell in zip(names, cells, strict=False) if cell is not None}
    data["action"] = data["action"].casefold() if "action" in data else defaults.action
    if "addressType" in data:
        data["addressType"] = data["addressType"].upper()
    if attributes:
        given = {
            name[len(ATTRIBUTE_PREFIX) :]: cell
            for name, cell in zip(attributes, cells[len(names) :], strict=True)
            if cell is not None
        }
        if given:
            data["customAttributes"] = given
    return data


def _judge(data: dict[str, Any], defaults: RowDefaults) -> _Content | _Refusal:
    try:
        row = RowModel.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        try:
            code = ErrorCode(first["type"])
        except ValueError:  # a pydantic built-in check, e.g. a non-text cell
            code = ErrorCode.REJECTED
        return _Refusal(data.get("action"), code, first["msg"])
    fields: dict[str, Any] = row.__dict__
    assert row.action is not None  # guaranteed by the model's rules
    return _Content(
        action=row.action,
        address_type=(row.addressType or defaults.address_type)
        if row.action == "address"
        else None,
        comment=row.comment,
        tracking_enabled=row.trackingEnabled,
        custom_attributes=tuple(sorted((row.customAttributes or {}).items())),
        address=tuple((f, fields[f]) for f in ADDRESS_FIELDS if fields[f] is not None),
    )


def _cells(fields: pl.DataFrame, names: list[str]) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """(orderId cell, the other cells) per row, a slice of rows at a time."""
    for part in fields.select("orderId", *names).iter_slices(SLICE_ROWS):
        columns = [part[name].to_list() for name in names]
        rows = zip(*columns, strict=True) if columns else [()] * part.height
        yield from zip(part["orderId"].to_list(), rows, strict=True)


def validate_rows(fields: pl.DataFrame, *, defaults: RowDefaults) -> list[Change | Rejection]:
    """Validate every row of `fields` (canonical columns); one result per row, in order.

    The orderId is checked per row; the rest of a row is validated by the
    pydantic model once per distinct content (bulk files repeat it: a million
    cancellations share one), so the cost follows the variety of the rows.
    """
    if "orderId" not in fields.columns:
        fields = fields.with_columns(pl.lit(None, dtype=pl.String).alias("orderId"))
    names = [c for c in fields.columns if c in RowModel.model_fields]
    attributes = [c for c in fields.columns if c.startswith(ATTRIBUTE_PREFIX)]
    verdicts: dict[tuple[Any, ...], _Content | _Refusal] = {}
    results: list[Change | Rejection] = []
    for index, (order_cell, cells) in enumerate(_cells(fields, names + attributes)):
        verdict = verdicts.get(cells)
        if verdict is None:
            if len(verdicts) >= CACHE_LIMIT:
                verdicts.clear()
            verdict = verdicts[cells] = _judge(
                _row_data(names, attributes, cells, defaults), defaults
            )
        try:
            order_id = parse_order_id(order_cell)
        except PydanticCustomError as error:
            action = verdict.action if verdict is not None else None
            results.append(Rejection(index, None, action, ErrorCode(error.type), error.message()))
            continue
        if isinstance(verdict, _Refusal):
            results.append(
                Rejection(index, order_id, verdict.action, verdict.code, verdict.message)
            )
        else:
            results.append(
                Change(
                    index,
                    order_id,
                    verdict.action,
                    verdict.address_type,
                    verdict.comment,
                    verdict.tracking_enabled,
                    verdict.custom_attributes,
                    verdict.address,
                )
            )
    return results
