"""Order keys in a cell: Quivo's orderId, or the shop's number resolved to one
(docs/reference/inputs.md).

An orderId cell is a positive whole number written in ASCII digits; what a
spreadsheet did to it is refused, never guessed: Excel's scientific notation
(`1.23457E+11`), a number that could carry a decimal or a thousands separator
(`900.000`), a superscript or other non-ASCII digit. `123456.0` is 123456.

    parse_order_id("123456.0")  # 123456
"""

from __future__ import annotations

import re
from typing import Any

from pydantic_core import PydanticCustomError

from pipeline.core.outcomes import ErrorCode

MAX_ORDER_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]+")
_EXCEL_FLOAT = re.compile(r"([0-9]+)\.0*")
_SCIENTIFIC = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+")
# 900.000 or 1,234: a thousands separator or a decimal one? Never guessed
# (docs/reference/inputs.md).
_GROUPED = re.compile(r"[0-9]{1,3}(?:[.,][0-9]{3})+")
KEY_SEPARATOR = "\x1f"  # between a key's field and its value: `orderIdentifier<US>#1001`
# A resolved key: the orderId, or why there is none (order_not_found, ambiguous_order).
Resolution = int | tuple[ErrorCode, str]


def problem(code: ErrorCode, message: str, **context: Any) -> PydanticCustomError:
    """A row's problem: its code is the row's errorCode, its message says what to do."""
    return PydanticCustomError(code.value, message, context)


def parse_order_id(value: str | None) -> int:
    """The order ID in a cell; raises the row's error (missing / invalid) as its code."""
    if (
        value is not None
        and value.isascii()
        and value.isdigit()
        and len(value) < 19
        and value[0] != "0"
    ):
        return int(value)  # the common case, without regular expressions
    if value is None:
        raise problem(
            ErrorCode.MISSING_ORDER_ID, "orderId is empty; every row needs the order's ID"
        )
    digits = value
    if not _DIGITS.fullmatch(value):
        excel = _EXCEL_FLOAT.fullmatch(value)
        if _GROUPED.fullmatch(value):
            whole = re.sub("[.,]", "", value)
            raise problem(
                ErrorCode.INVALID_ORDER_ID,
                "orderId '{value}' could be {first} or {whole} (a decimal or a thousands"
                " separator); write the order ID without separators",
                value=value,
                first=str(int(re.split("[.,]", value)[0])),
                whole=str(int(whole)),
            )
        if excel:
            digits = excel.group(1)
        elif _SCIENTIFIC.fullmatch(value):
            raise problem(
                ErrorCode.INVALID_ORDER_ID,
                "orderId '{value}' lost its digits to Excel's scientific notation;"
                " format the column as text and export again",
                value=value,
            )
        else:
            raise problem(
                ErrorCode.INVALID_ORDER_ID,
                "orderId '{value}' is not a positive whole number",
                value=value,
            )
    order_id = int(digits)
    if not 0 < order_id <= MAX_ORDER_ID:
        raise problem(
            ErrorCode.INVALID_ORDER_ID,
            "orderId '{value}' is out of range (1 to 2^63-1)",
            value=value,
        )
    return order_id


def split_key(key: str) -> tuple[str, str]:
    """`orderIdentifier<US>#1001` -> ("orderIdentifier", "#1001")."""
    field_name, _, value = key.partition(KEY_SEPARATOR)
    return field_name, value


def key_order_id(
    key: str, resolved: dict[str, Resolution] | None, stand_ins: dict[str, int]
) -> int:
    """A keyed row's orderId: resolved, a stand-in offline, or the row's error."""
    if resolved is None:
        return stand_ins.setdefault(key, -(len(stand_ins) + 1))
    resolution = resolved.get(key)
    if isinstance(resolution, int):
        return resolution
    field_name, value = split_key(key)
    if resolution is None:
        code, message = ErrorCode.ORDER_NOT_FOUND, f"no order has {field_name} '{value}'"
    else:
        code, message = resolution
    raise problem(code, message.replace("{", "{{").replace("}", "}}"))
