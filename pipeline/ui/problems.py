"""Which cells a row's problem is about, so the check grid can mark them.

problem_fields(ErrorCode.MISSING_STATE, "state is required for US")  # ("state",)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.columns import CANONICAL

# An error code names the field it is about; messages may name more (every problem of a row).
CODE_FIELDS: dict[ErrorCode, tuple[str, ...]] = {
    ErrorCode.MISSING_ORDER_ID: ("orderId",),
    ErrorCode.INVALID_ORDER_ID: ("orderId",),
    ErrorCode.MISSING_ACTION: ("action",),
    ErrorCode.INVALID_ACTION: ("action",),
    ErrorCode.INVALID_ADDRESS_TYPE: ("addressType",),
    ErrorCode.COMMENT_TOO_LONG: ("comment",),
    ErrorCode.INVALID_BOOLEAN: ("trackingEnabled",),
    ErrorCode.INVALID_COUNTRY: ("countryIso2",),
    ErrorCode.MISSING_COUNTRY: ("countryIso2",),
    ErrorCode.MISSING_NAME: ("name",),
    ErrorCode.MISSING_STREET: ("street",),
    ErrorCode.MISSING_CITY: ("city",),
    ErrorCode.MISSING_ZIP: ("zip",),
    ErrorCode.MISSING_STATE: ("state",),
    ErrorCode.INVALID_LATITUDE: ("latitude",),
    ErrorCode.INVALID_LONGITUDE: ("longitude",),
    ErrorCode.INCOMPLETE_COORDINATES: ("latitude", "longitude"),
    ErrorCode.INVALID_EMAIL: ("email",),
    ErrorCode.CONFLICTING_ROWS: ("orderId",),
}
_CODE_ONLY = ("orderId", "action")  # named by most messages; marked only by their codes
_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def problem_fields(code: ErrorCode | str, message: str) -> tuple[str, ...]:
    """The canonical fields a problem is about: its code's fields, then those its message names."""
    try:
        found = list(CODE_FIELDS.get(ErrorCode(code), ()))
    except ValueError:
        found = []
    if code == ErrorCode.CONFLICTING_ROWS:  # `city is 'Graz' here but ...; zip is ...`
        said = (part.split(" ", 1)[0] for part in message.split("; "))
        return tuple(found + [f for f in dict.fromkeys(said) if f in CANONICAL and f not in found])
    named = set(_WORDS.findall(message))
    found += [n for n in CANONICAL if n in named and n not in found and n not in _CODE_ONLY]
    return tuple(found)


def her_key(columns: Sequence[str]) -> str | None:
    """The column of a plan or report naming orders by her shop's key (`Bestellnummer`,
    read as orderIdentifier or orderReference), shown beside Quivo's orderId; None
    when her file named them by orderId."""
    from pipeline.core.errors import InputFileError
    from pipeline.core.outcomes import LEADING_COLUMNS
    from pipeline.inputs.columns import match_columns

    for column in columns:
        if column in LEADING_COLUMNS:
            continue
        try:
            field = match_columns([column]).fields.get(column)
        except InputFileError:
            continue
        if field in ("orderIdentifier", "orderReference"):
            return column
    return None
