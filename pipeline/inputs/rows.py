"""Validate input rows with pydantic before anything is sent (SPEC §4).

Each rule raises a `PydanticCustomError` whose type is the row's stable
`errorCode`, with a message a person can act on. Valid rows become `Change`s,
invalid ones `Rejection`s; both keep their index in the input table.

    checked = validate_rows(table.fields, defaults=RowDefaults(action="cancel"))
"""

from __future__ import annotations

import math
import re
import unicodedata
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
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

from pipeline.inputs.columns import ADDRESS_FIELDS, ATTRIBUTE_PREFIX
from pipeline.inputs.countries import ISO_ALPHA2, NO_POSTAL_CODE, STATE_REQUIRED
from pipeline.outcomes import ErrorCode
from pipeline.run.changes import ACTIONS, ADDRESS_TYPES, Change

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
        given = self.model_fields_set  # the cells that were not empty
        address = _ADDRESS_SET & given
        extras = _EXTRA_SET & given
        if self.action == "cancel" and (address or extras):
            raise _error(
                ErrorCode.UNEXPECTED_FIELDS,
                "a cancel row sends only the cancellation; clear {fields} or make it an update row",
                fields=_named(self, address | extras),
            )
        if self.action == "address":
            if extras:
                raise _error(
                    ErrorCode.UNEXPECTED_FIELDS,
                    "an address row sends only the address; put {fields} in an update row",
                    fields=_named(self, extras),
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


_ADDRESS_SET = frozenset(ADDRESS_FIELDS)
_EXTRA_SET = frozenset({"comment", "trackingEnabled", "customAttributes"})
_FIELD_ORDER = {name: position for position, name in enumerate(RowModel.model_fields)}


def _named(row: RowModel, fields: set[str] | frozenset[str]) -> str:
    """Field names in column order, attributes spelled out: `city, customAttributes.x`."""
    names = []
    for name in sorted(fields, key=_FIELD_ORDER.__getitem__):
        if name == "customAttributes":
            names += [ATTRIBUTE_PREFIX + key for key in row.customAttributes or {}]
        else:
            names.append(name)
    return ", ".join(names)


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


class RowCells:
    """Every row's canonical cells, normalised in polars and read back a slice at a time.

    The action default and the case of `action` / `addressType` are applied to
    whole columns, so the per-row work is only what needs Python.
    """

    def __init__(self, fields: pl.DataFrame, defaults: RowDefaults) -> None:
        self.defaults = defaults
        self.names = [c for c in fields.columns if c in RowModel.model_fields]
        self.attributes = [c for c in fields.columns if c.startswith(ATTRIBUTE_PREFIX)]
        action = pl.col("action").str.to_lowercase() if "action" in fields.columns else None
        normalised = [
            (action if action is not None else pl.lit(None, dtype=pl.String))
            .fill_null(pl.lit(defaults.action, dtype=pl.String))
            .alias("action")
        ]
        if "addressType" in fields.columns:
            normalised.append(pl.col("addressType").str.to_uppercase())
        if "action" not in self.names:
            self.names.append("action")
        order = pl.col("orderId") if "orderId" in fields.columns else pl.lit(None, pl.String)
        self._frame = fields.with_columns(*normalised).select(
            order.alias("orderId"), *self.names, *self.attributes
        )
        self.height = self._frame.height
        self._cached: tuple[int, list[tuple[Any, tuple[Any, ...]]]] = (-1, [])

    def _slice(self, start: int) -> list[tuple[Any, tuple[Any, ...]]]:
        part = self._frame.slice(start, SLICE_ROWS)
        columns = [part[name].to_list() for name in (*self.names, *self.attributes)]
        rows = zip(*columns, strict=True) if columns else [()] * part.height
        return list(zip(part["orderId"].to_list(), rows, strict=True))

    def __iter__(self) -> Iterator[tuple[Any, tuple[Any, ...]]]:
        for start in range(0, self.height, SLICE_ROWS):
            yield from self._slice(start)

    def at(self, index: int) -> tuple[Any, tuple[Any, ...]]:
        """One row's (orderId cell, other cells); neighbouring rows are kept at hand."""
        start = index - index % SLICE_ROWS
        if self._cached[0] != start:
            self._cached = (start, self._slice(start))
        return self._cached[1][index - start]

    def data(self, cells: tuple[Any, ...]) -> dict[str, Any]:
        """The model's input for one row's cells."""
        data = {n: cell for n, cell in zip(self.names, cells, strict=False) if cell is not None}
        if self.attributes:
            given = {
                name[len(ATTRIBUTE_PREFIX) :]: cell
                for name, cell in zip(self.attributes, cells[len(self.names) :], strict=True)
                if cell is not None
            }
            if given:
                data["customAttributes"] = given
        return data


def _check(data: dict[str, Any]) -> RowModel | _Refusal:
    try:
        return RowModel.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        try:
            code = ErrorCode(first["type"])
        except ValueError:  # a pydantic built-in check, e.g. a non-text cell
            code = ErrorCode.REJECTED
        return _Refusal(data.get("action"), code, first["msg"])


def _content(row: RowModel, defaults: RowDefaults) -> _Content:
    fields: dict[str, Any] = row.__dict__
    assert row.action is not None  # guaranteed by the model's rules
    # Text is sent and compared in Unicode NFC: a name typed in decomposed form (as
    # macOS exports it) is the same name, and the API stores what it is sent.
    return _Content(
        action=row.action,
        address_type=(row.addressType or defaults.address_type)
        if row.action == "address"
        else None,
        comment=_nfc(row.comment),
        tracking_enabled=row.trackingEnabled,
        custom_attributes=tuple(
            sorted((key, _nfc(value)) for key, value in (row.customAttributes or {}).items())
        ),
        address=tuple((f, _nfc(fields[f])) for f in ADDRESS_FIELDS if fields[f] is not None),
    )


def _nfc(value: Any) -> Any:
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


@dataclass
class CheckedRows:
    """Every row's validation, kept compact: a million rows make no per-row objects.

    Per row: its order ID (0 when invalid) and its action; the rejected rows with
    why. A valid row's `Change` is built again when it is needed (`change`).
    """

    cells: RowCells
    order_ids: array[int]
    actions: list[str | None]
    rejections: dict[int, Rejection]
    _contents: dict[tuple[Any, ...], _Content] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.order_ids)

    def change(self, index: int) -> Change:
        """The change row `index` asks for (the row must be valid)."""
        _, cells = self.cells.at(index)
        content = self._contents.get(cells)
        if content is None:
            row = _check(self.cells.data(cells))
            assert isinstance(row, RowModel), f"row {index} is not valid"
            if len(self._contents) >= CACHE_LIMIT:
                self._contents.clear()
            content = self._contents[cells] = _content(row, self.cells.defaults)
        return Change(
            index,
            self.order_ids[index],
            content.action,
            content.address_type,
            content.comment,
            content.tracking_enabled,
            content.custom_attributes,
            content.address,
        )


_SHARED_ACTIONS: dict[str | None, str | None] = {action: action for action in ACTIONS}


def validate_rows(fields: pl.DataFrame, *, defaults: RowDefaults) -> CheckedRows:
    """Validate every row of `fields` (canonical columns), keeping the results compact.

    The orderId is checked per row; the rest of a row is validated by the
    pydantic model once per distinct content (bulk files repeat it: a million
    cancellations share one), so the cost follows the variety of the rows.
    """
    cells = RowCells(fields, defaults)
    action_at = cells.names.index("action")
    verdicts: dict[tuple[Any, ...], _Refusal | None] = {}
    order_ids: array[int] = array("q")
    actions: list[str | None] = []
    rejections: dict[int, Rejection] = {}
    for index, (order_cell, row_cells) in enumerate(cells):
        action = _SHARED_ACTIONS.get(row_cells[action_at], row_cells[action_at])
        try:
            verdict = verdicts[row_cells]
        except KeyError:
            if len(verdicts) >= CACHE_LIMIT:
                verdicts.clear()
            checked = _check(cells.data(row_cells))
            verdict = verdicts[row_cells] = checked if isinstance(checked, _Refusal) else None
        try:
            order_id = parse_order_id(order_cell)
        except PydanticCustomError as error:
            rejections[index] = Rejection(
                index, None, action, ErrorCode(error.type), error.message()
            )
            order_id = 0
        else:
            if verdict is not None:
                rejections[index] = Rejection(
                    index, order_id, verdict.action, verdict.code, verdict.message
                )
        order_ids.append(order_id)
        actions.append(action)
    return CheckedRows(cells, order_ids, actions, rejections)
