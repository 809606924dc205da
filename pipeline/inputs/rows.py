"""Validate input rows with pydantic before anything is sent (docs/reference/inputs.md).

Each rule raises a `PydanticCustomError` whose type is the row's stable
`errorCode`, with a message a person can act on. Valid rows become `Change`s,
invalid ones `Rejection`s; both keep their index in the input table.

    checked = validate_rows(table.fields, defaults=RowDefaults(action="cancel"))
"""

from __future__ import annotations

import unicodedata
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from pydantic import (
    ValidationError,
)
from pydantic_core import PydanticCustomError

from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.address import is_clear
from pipeline.inputs.changes import ACTIONS, Change
from pipeline.inputs.columns import ADDRESS_FIELDS, ATTRIBUTE_PREFIX
from pipeline.inputs.ids import (
    KEY_SEPARATOR,
    MAX_ORDER_ID,
    Resolution,
    key_order_id,
    parse_order_id,
    split_key,
)
from pipeline.inputs.model import (
    COMMENT_MAX_UNITS,
    FALSE_WORDS,
    TRUE_WORDS,
    RowModel,
    parse_boolean,
    utf16_units,
)
from pipeline.inputs.rules import row_rules

__all__ = [
    "COMMENT_MAX_UNITS",
    "FALSE_WORDS",
    "KEY_SEPARATOR",
    "MAX_ORDER_ID",
    "TRUE_WORDS",
    "CheckedRows",
    "Rejection",
    "Resolution",
    "RowDefaults",
    "RowModel",
    "parse_boolean",
    "parse_order_id",
    "split_key",
    "utf16_units",
    "validate_rows",
]


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
    cleared: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Valid:
    """A valid row's model and the address fields it clears (`#CLEAR` cells)."""

    row: RowModel
    cleared: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Refusal:
    action: str | None
    code: ErrorCode
    message: str


def key_expression(columns: Sequence[str]) -> pl.Expr | None:
    """A row's shop key as `orderIdentifier<US>#1001` (None: the input has no key column)."""
    keys = [
        pl.lit(name + KEY_SEPARATOR) + pl.col(name)
        for name in ("orderIdentifier", "orderReference")
        if name in columns
    ]
    return pl.coalesce(*keys) if keys else None


def keys_to_resolve(fields: pl.DataFrame) -> list[str]:
    """The distinct keys of rows that name their order by shop number, not orderId."""
    key = key_expression(fields.columns)
    if key is None:
        return []
    order = pl.col("orderId") if "orderId" in fields.columns else pl.lit(None, pl.String)
    keyed = fields.select(pl.when(order.is_null()).then(key).alias("key"))["key"]
    return keyed.drop_nulls().unique(maintain_order=True).to_list()


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
        key = key_expression(fields.columns)
        self.keyed = key is not None
        key = key if key is not None else pl.lit(None, pl.String)
        self._frame = fields.with_columns(*normalised).select(
            order.alias("orderId"), key.alias("__key"), *self.names, *self.attributes
        )
        self.height = self._frame.height
        self._cached: tuple[int, list[tuple[Any, tuple[Any, ...]]]] = (-1, [])

    def _slice(self, start: int) -> list[tuple[Any, tuple[Any, ...]]]:
        part = self._frame.slice(start, SLICE_ROWS)
        columns = [part[name].to_list() for name in (*self.names, *self.attributes)]
        rows = zip(*columns, strict=True) if columns else [()] * part.height
        return list(zip(part["orderId"].to_list(), rows, strict=True))

    def keys(self) -> list[str | None]:
        """Per row, its order key when it has no orderId: `orderIdentifier<US>#1001`."""
        return (
            self._frame.select(pl.when(pl.col("orderId").is_null()).then(pl.col("__key")))
            .to_series()
            .to_list()
        )

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


# The cells each action does not send (an update sends them all; its address cells for
# another addressType are named by the row's rules).
NOT_SENT_BY = {
    "address": frozenset({"comment", "trackingEnabled", "customAttributes"}),
    "cancel": frozenset({"comment", "trackingEnabled", "customAttributes", *ADDRESS_FIELDS}),
}


def _check(data: dict[str, Any]) -> _Valid | _Refusal:
    """The row's model, or every problem it has (the first one's code is the row's).

    An address cell holding `#CLEAR` (any case) clears its field: it is taken out of
    the model's cells and checked by the row's rules.
    """
    cleared = frozenset(name for name in ADDRESS_FIELDS if is_clear(data.get(name)))
    unsent = NOT_SENT_BY.get(data.get("action") or "", frozenset())
    # A cell the row's action does not send is a note, not a problem (inputs/unsent.py):
    # a 300-character Kommentar on an address row does not make the row invalid.
    data = {k: v for k, v in data.items() if k not in cleared and k not in unsent}
    problems: list[tuple[str, str]] = []
    failed: set[str] = set()
    try:
        row = RowModel.model_validate(data)
    except ValidationError as error:
        for item in error.errors(include_url=False):
            failed.add(str(item["loc"][0]) if item["loc"] else "")
            problems.append((item["type"], item["msg"]))
        row = RowModel.model_validate({k: v for k, v in data.items() if k not in failed})
    problems += [(p.type, p.message()) for p in row_rules(row, set(data), failed, cleared)]
    if not problems:
        return _Valid(row, cleared)
    try:
        code = ErrorCode(problems[0][0])
    except ValueError:  # a pydantic built-in check, e.g. a non-text cell
        code = ErrorCode.REJECTED
    return _Refusal(data.get("action"), code, "; ".join(message for _, message in problems))


def _content(valid: _Valid, defaults: RowDefaults) -> _Content:
    """What the row sends: only the fields its action sends (a comment on an address
    row, a name on a cancel row are not sent; `unsent_notes` names them)."""
    row = valid.row
    fields: dict[str, Any] = row.__dict__
    assert row.action is not None  # guaranteed by the model's rules
    extras = row.action == "update"
    # An update sends only the delivery address: with another addressType it sends none.
    address = row.action == "address" or (
        row.action == "update" and row.addressType in (None, "DELIVERY")
    )
    # Text is sent and compared in Unicode NFC: a name typed in decomposed form (as
    # macOS exports it) is the same name, and the API stores what it is sent.
    return _Content(
        action=row.action,
        address_type=(row.addressType or defaults.address_type)
        if row.action == "address"
        else None,
        comment=_nfc(row.comment) if extras else None,
        tracking_enabled=row.trackingEnabled if extras else None,
        custom_attributes=tuple(
            sorted((key, _nfc(value)) for key, value in (row.customAttributes or {}).items())
        )
        if extras
        else (),
        address=tuple((f, _nfc(fields[f])) for f in ADDRESS_FIELDS if fields[f] is not None)
        if address
        else (),
        cleared=tuple(f for f in ADDRESS_FIELDS if f in valid.cleared) if address else (),
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
            valid = _check(self.cells.data(cells))
            assert isinstance(valid, _Valid), f"row {index} is not valid"
            if len(self._contents) >= CACHE_LIMIT:
                self._contents.clear()
            content = self._contents[cells] = _content(valid, self.cells.defaults)
        return Change(
            index,
            self.order_ids[index],
            content.action,
            content.address_type,
            content.comment,
            content.tracking_enabled,
            content.custom_attributes,
            content.address,
            content.cleared,
        )


_SHARED_ACTIONS: dict[str | None, str | None] = {action: action for action in ACTIONS}


def validate_rows(
    fields: pl.DataFrame,
    *,
    defaults: RowDefaults,
    resolved: dict[str, Resolution] | None = None,
) -> CheckedRows:
    """Validate every row of `fields` (canonical columns), keeping the results compact.

    The orderId is checked per row; the rest of a row is validated by the
    pydantic model once per distinct content (bulk files repeat it: a million
    cancellations share one), so the cost follows the variety of the rows.
    A row keyed by orderIdentifier / orderReference takes its orderId from
    `resolved`; without it (offline) each key gets a stand-in negative ID, so
    rows of one order are still planned together.
    """
    cells = RowCells(fields, defaults)
    action_at = cells.names.index("action")
    verdicts: dict[tuple[Any, ...], _Refusal | None] = {}
    order_ids: array[int] = array("q")
    actions: list[str | None] = []
    rejections: dict[int, Rejection] = {}
    keys = cells.keys() if cells.keyed else []
    stand_ins: dict[str, int] = {}
    for index, (order_cell, row_cells) in enumerate(cells):
        action = _SHARED_ACTIONS.get(row_cells[action_at], row_cells[action_at])
        key = keys[index] if order_cell is None and keys else None
        try:
            verdict = verdicts[row_cells]
        except KeyError:
            if len(verdicts) >= CACHE_LIMIT:
                verdicts.clear()
            checked = _check(cells.data(row_cells))
            verdict = verdicts[row_cells] = checked if isinstance(checked, _Refusal) else None
        try:
            if key is not None:
                order_id = key_order_id(key, resolved, stand_ins)
            else:
                order_id = parse_order_id(order_cell)
        except PydanticCustomError as error:
            message = error.message()
            if verdict is not None:
                message = f"{message}; {verdict.message}"
            rejections[index] = Rejection(index, None, action, ErrorCode(error.type), message)
            order_id = 0
        else:
            if verdict is not None:
                rejections[index] = Rejection(
                    index, order_id, verdict.action, verdict.code, verdict.message
                )
        order_ids.append(order_id)
        actions.append(action)
    return CheckedRows(cells, order_ids, actions, rejections)


# What each action sends (an update also sends customAttributes.* columns).
