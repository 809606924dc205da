"""Forgiving header matching: `Order ID`, `order_id` and `ORDERID` all mean `orderId`.

Headers are compared without regard to case, spaces, underscores, dots and
hyphens. `customAttributes.<key>` columns carry one attribute each. A header
that is unknown but close to a known one (`stret`) is an error naming it.

    match_columns(["Order ID", "Stadt"], mapping={"Stadt": "city"}).fields
    # {"Order ID": "orderId", "Stadt": "city"}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.errors import InputFileError
from pipeline.outcomes import LEADING_COLUMNS

ADDRESS_FIELDS = (
    "name",
    "company",
    "email",
    "phone",
    "street",
    "street2",
    "city",
    "zip",
    "state",
    "countryIso2",
    "latitude",
    "longitude",
)
CANONICAL = ("orderId", "action", "comment", "trackingEnabled", "addressType", *ADDRESS_FIELDS)
# Other spellings people use; the response's own field names among them.
ALIASES = {
    "country": "countryIso2",
    "countryCode": "countryIso2",
    "zipCode": "zip",
    "postcode": "zip",
    "postalCode": "zip",
    "name1": "name",
    "address1": "street",
    "address2": "street2",
}
ATTRIBUTE_PREFIX = "customAttributes."
# The columns a report adds (SPEC §7): ignored when a report is fed back in.
REPORT_COLUMNS = tuple(c for c in LEADING_COLUMNS if c not in ("orderId", "action"))

_SEPARATORS = re.compile(r"[\s_.\-]+")


def normalize(header: str) -> str:
    """`Order ID` -> `orderid`: the form headers are compared in."""
    return _SEPARATORS.sub("", header.replace("\ufeff", "")).casefold()


_KNOWN = {normalize(name): name for name in CANONICAL} | {
    normalize(alias): canonical for alias, canonical in ALIASES.items()
}
_IGNORED = {normalize(name) for name in REPORT_COLUMNS} - set(_KNOWN)
_ATTRIBUTE_PREFIXES = {"customattributes", "customattribute"}


@dataclass(frozen=True)
class ColumnMap:
    """How one file's headers map onto canonical fields."""

    fields: dict[str, str]  # header -> canonical field or `customAttributes.<key>`
    unknown: tuple[str, ...]  # carried through to the reports untouched
    ignored: tuple[str, ...]  # columns a report added (error, errorCode, ...)


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions, swaps."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                best = min(best, previous2[j - 2] + 1)
            current.append(best)
        previous2, previous = previous, current
    return previous[-1]


def likely_column(header: str) -> str | None:
    """The known column an unknown header is probably a typo of, if any."""
    key = normalize(header)
    if len(key) < 3:
        return None
    best: tuple[int, str] | None = None
    for known, canonical in _KNOWN.items():
        allowed = 1 if len(known) <= 5 else 2
        distance = edit_distance(key, known)
        if distance <= allowed and (best is None or distance < best[0]):
            best = (distance, canonical)
    return best[1] if best else None


def _attribute(header: str) -> str | None:
    prefix, dot, key = header.partition(".")
    if dot and normalize(prefix) in _ATTRIBUTE_PREFIXES:
        return key.strip()
    return None


def match_columns(
    headers: Sequence[str], *, mapping: Mapping[str, str] | None = None, source: str = "input"
) -> ColumnMap:
    """Map `headers` onto canonical fields; raise InputFileError naming the problem."""
    explicit = {normalize(k): v for k, v in (mapping or {}).items()}
    fields: dict[str, str] = {}
    unknown: list[str] = []
    ignored: list[str] = []
    claimed: dict[str, str] = {}
    for header in headers:
        key = normalize(header)
        attribute = _attribute(header)
        if key in explicit:
            field = explicit[key]
        elif attribute is not None:
            if not attribute:
                raise InputFileError(
                    f"{source}: column '{header}' names no attribute;"
                    " write customAttributes.<key>, e.g. customAttributes.giftWrap"
                )
            field = ATTRIBUTE_PREFIX + attribute
        elif key in _KNOWN:
            field = _KNOWN[key]
        elif key in _IGNORED:
            ignored.append(header)
            continue
        else:
            guess = likely_column(header)
            if guess is not None:
                raise InputFileError(
                    f"{source}: unknown column '{header}' looks like '{guess}';"
                    f" rename the column to {guess} (or map it in the job file's [columns])"
                )
            unknown.append(header)
            continue
        if field in claimed:
            raise InputFileError(
                f"{source}: columns '{claimed[field]}' and '{header}' both mean {field};"
                " delete or rename one of them"
            )
        claimed[field] = header
        fields[header] = field
    return ColumnMap(fields=fields, unknown=tuple(unknown), ignored=tuple(ignored))
