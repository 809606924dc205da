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

from pipeline.core.errors import InputFileError
from pipeline.core.outcomes import LEADING_COLUMNS

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
# The columns that name an order: Quivo's orderId, or the shop's own keys
# (docs/reference/inputs.md).
ORDER_KEYS = ("orderId", "orderIdentifier", "orderReference")
NOT_USED = "-"  # a mapping's target for a column to leave out (kept in the reports only)
CANONICAL = (*ORDER_KEYS, "action", "comment", "trackingEnabled", "addressType", *ADDRESS_FIELDS)
# Other spellings people use (English and German, docs/reference/inputs.md; the API response's own
# field names among them). Each match is reported once as a note: 'PLZ' read as zip.
ALIASES = {
    "Order Number": "orderIdentifier",
    "Order No": "orderIdentifier",
    "Bestellnummer": "orderIdentifier",
    "Order Name": "orderIdentifier",
    "Shop Order Number": "orderIdentifier",
    "Reference": "orderReference",
    "Order Reference": "orderReference",
    "Referenz": "orderReference",
    "Customer Name": "name",
    "Recipient": "name",
    "Empfänger": "name",
    "name1": "name",
    "Firma": "company",
    "Address": "street",
    "Address Line 1": "street",
    "Straße": "street",
    "Strasse": "street",
    "Adresse": "street",
    "address1": "street",
    "Address Line 2": "street2",
    "Adresszusatz": "street2",
    "address2": "street2",
    "Postal Code": "zip",
    "Postcode": "zip",
    "Zip Code": "zip",
    "PLZ": "zip",
    "Postleitzahl": "zip",
    "Town": "city",
    "Ort": "city",
    "Stadt": "city",
    "Province": "state",
    "Region": "state",
    "Bundesland": "state",
    "Country Code": "countryIso2",
    "Country": "countryIso2",
    "Land": "countryIso2",
    "Telefon": "phone",
    "Tel": "phone",
    "E-Mail": "email",
    "Mail": "email",
    "Kommentar": "comment",
    "Note for warehouse": "comment",
}
# Short synonyms are too close to ordinary words to be typo targets (`Art` is not `Ort`).
MIN_TYPO_TARGET = 5
ATTRIBUTE_PREFIX = "customAttributes."
# The columns a report adds (docs/reference/outputs.md): ignored when a report is fed back in.
REPORT_COLUMNS = tuple(c for c in LEADING_COLUMNS if c not in ("orderId", "action"))
# The columns quivo-bulk adds to the inputs it writes (a rerun's rows, an undo.csv):
# carried to the reports like any unknown column, but without a warning about them.
OWN_COLUMNS = frozenset({"sourceRun", "sourceFile", "sourceRow", "undoes"})

_SEPARATORS = re.compile(r"[\s_.\-]+")


def normalize(header: str) -> str:
    """`Order ID` -> `orderid`: the form headers are compared in."""
    return _SEPARATORS.sub("", header.replace("\ufeff", "")).casefold()


_CANONICAL_KEYS = {normalize(name): name for name in CANONICAL}
_SYNONYMS = {normalize(alias): canonical for alias, canonical in ALIASES.items()}
_KNOWN = _CANONICAL_KEYS | _SYNONYMS
_TYPO_TARGETS = {
    key: name
    for key, name in _KNOWN.items()
    if key in _CANONICAL_KEYS or len(key) >= MIN_TYPO_TARGET
}
_TRAILING_NUMBER = re.compile(r"\d+$")


def known_field(header: str) -> str | None:
    """The canonical field a header names by spelling or synonym (`PLZ` -> zip), if any."""
    return _KNOWN.get(normalize(header))


_IGNORED = {normalize(name) for name in REPORT_COLUMNS} - set(_KNOWN)
_ATTRIBUTE_PREFIXES = {"customattributes", "customattribute"}


@dataclass(frozen=True)
class ColumnMap:
    """How one file's headers map onto canonical fields."""

    fields: dict[str, str]  # header -> canonical field or `customAttributes.<key>`
    unknown: tuple[str, ...]  # carried through to the reports untouched
    ignored: tuple[str, ...]  # columns a report added (error, errorCode, ...)
    synonyms: tuple[tuple[str, str], ...] = ()  # (header, field) read through a synonym

    def notes(self, source: str) -> list[str]:
        """One note per synonym matched: `fixes.csv: 'PLZ' read as zip`."""
        return [f"{source}: '{header}' read as {field}" for header, field in self.synonyms]

    @property
    def order_key(self) -> str | None:
        """The field that names the order (orderId first), or None."""
        given = set(self.fields.values())
        return next((key for key in ORDER_KEYS if key in given), None)


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
    """The known column an unknown header is probably a typo of, if any.

    A known name with a number or a plural `s` added (`Phone2`, `Zip4`, `Names`) is
    an ordinary extra column, not a typo; nor is a header much shorter or longer than
    the name it resembles (`Order` is not `orderId`).
    """
    key = normalize(header)
    if len(key) < 3:
        return None
    stem = _TRAILING_NUMBER.sub("", key)
    if (stem != key and stem in _KNOWN) or (key.endswith("s") and key[:-1] in _KNOWN):
        return None
    best: tuple[int, str] | None = None
    for known, canonical in _TYPO_TARGETS.items():
        if abs(len(known) - len(key)) > 1:
            continue
        allowed = 1 if len(known) <= 5 or known not in _CANONICAL_KEYS else 2
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
    synonyms: list[tuple[str, str]] = []
    for header in headers:
        key = normalize(header)
        attribute = _attribute(header)
        if key in explicit and explicit[key] == NOT_USED:
            unknown.append(header)
            continue
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
            if key not in _CANONICAL_KEYS:
                synonyms.append((header, field))
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
    return ColumnMap(
        fields=fields, unknown=tuple(unknown), ignored=tuple(ignored), synonyms=tuple(synonyms)
    )
