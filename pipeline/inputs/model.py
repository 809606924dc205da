"""The row model: one input row's cells checked one by one with pydantic (docs/reference/inputs.md).

Each check raises a problem whose type is the row's stable `errorCode`
(`pipeline.inputs.ids.problem`); the rules over a whole row are in
`pipeline.inputs.rules`, and `pipeline.inputs.rows` validates whole tables.

    RowModel.model_validate({"action": "update", "comment": "hi"})
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.columns import ADDRESS_FIELDS
from pipeline.inputs.countries import ISO_ALPHA2
from pipeline.inputs.ids import problem as _error

COMMENT_MAX_UNITS = 250
TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")
_TEXT_ADDRESS_FIELDS = tuple(f for f in ADDRESS_FIELDS if f not in ("latitude", "longitude"))


def utf16_units(text: str) -> int:
    """Length as the API counts it (Java strings: UTF-16 code units; emoji count twice)."""
    return len(text.encode("utf-16-le")) // 2


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
