"""An address row changes only the fields it names: the order's current address of that
type with the row's values laid over it (docs/reference/inputs.md, "Address corrections").
Pure functions: what to send, what changes, what is dropped and why.

    merged = merged_address(current_response_address, given={"zip": "1020"}, cleared=set())
    merged.body, merged.changes, merged.dropped
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.api.payloads import RESPONSE_FIELD
from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.countries import STATE_REQUIRED, rules_for, state_known, zip_problem

CLEAR = "#CLEAR"  # a cell that clears its field (any case)

Value = str | bool | float
REQUEST_FIELD = {response: request for request, response in RESPONSE_FIELD.items()}
COORDINATES = ("latitude", "longitude")
PLACE = ("street", "zip", "city", "countryIso2")  # changing one moves the address elsewhere


def is_clear(value: Any) -> bool:
    """Whether a cell says `#CLEAR` (any case, surrounding spaces ignored)."""
    return isinstance(value, str) and value.strip().upper() == CLEAR


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def request_address(response: Mapping[str, Any] | None) -> dict[str, Value]:
    """An order's address (response names: name1, address1, ...) in request names, non-empty
    fields only (name1 -> name, address1 -> street, country -> countryIso2, ...)."""
    found: dict[str, Value] = {}
    for field, value in (response or {}).items():
        name = REQUEST_FIELD.get(field)
        if name is not None and not _empty(value) and isinstance(value, str | bool | int | float):
            found[name] = float(value) if name in COORDINATES else value
    return found


@dataclass(frozen=True, slots=True)
class MergedAddress:
    """An address after a row's fields are laid over the order's current one.

    `body`: the new address's non-empty fields in request names (a PUT's whole body);
    `changes`: `(request field, old, new)` for each field whose value really changes
    (new "" when emptied); `dropped`: fields emptied though the row did not name them
    (coordinates of the old place, a state of the old country); `problem`: why the
    address cannot be sent, as `(errorCode, message)`.
    """

    body: dict[str, Value]
    changes: tuple[tuple[str, Value | None, Value], ...]
    dropped: tuple[str, ...] = ()
    problem: tuple[ErrorCode, str] | None = None


def _same(old: Value | None, new: Value | None) -> bool:
    """Exact equality of two address values (text in Unicode NFC; empty equals empty)."""
    if _empty(old) or _empty(new):
        return _empty(old) and _empty(new)
    if isinstance(old, str) and isinstance(new, str):
        return unicodedata.normalize("NFC", old) == unicodedata.normalize("NFC", new)
    if isinstance(old, float) or isinstance(new, float):
        try:
            return float(old) == float(new)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    return old == new


def merged_address(
    current: Mapping[str, Any] | None,
    given: Mapping[str, Value],
    cleared: frozenset[str] | set[str] = frozenset(),
    *,
    invoice: bool = False,
) -> MergedAddress:
    """Lay a row's fields over the order's current address (pure; see the README's
    "Address corrections").

    `current`: the order's address as read (response names); `given`: the row's
    non-empty fields (request names); `cleared`: the fields the row clears (`#CLEAR`).
    Every other field keeps its value, but: coordinates the row does not give are
    dropped when it changes street, zip, city or country, and a kept state that is no
    subdivision of a new country is dropped. Invoice addresses hold no coordinates.
    """
    old = request_address(current)
    if invoice:
        for name in COORDINATES:
            old.pop(name, None)
    new: dict[str, Value] = {**old, **given}
    for name in cleared:
        new.pop(name, None)
    if invoice:
        for name in COORDINATES:
            new.pop(name, None)
    dropped: list[str] = []
    moved = any(name in given and not _same(old.get(name), given[name]) for name in PLACE)
    moved = moved or any(name in cleared and name in old for name in PLACE)
    if moved and not set(COORDINATES) & (set(given) | set(cleared)):
        for name in COORDINATES:
            if new.pop(name, None) is not None:
                dropped.append(name)
    country = str(new.get("countryIso2") or "").upper()
    state = new.get("state")
    new_country = "countryIso2" in given and country != str(old.get("countryIso2") or "").upper()
    problem: tuple[ErrorCode, str] | None = None
    kept_state = "state" not in given and isinstance(state, str)
    # A kept state belongs to the old country: it stays only when the new one lists it.
    subdivisions = rules_for(country).subdivisions if country else frozenset()
    if kept_state and new_country and str(state).strip().casefold() not in subdivisions:
        new.pop("state")
        dropped.append("state")
        if country in STATE_REQUIRED:
            problem = (
                ErrorCode.MISSING_STATE,
                f"the order's state '{state}' belongs to its old country"
                f" {old.get('countryIso2')}, not to {country}; give the row a state of"
                f" {country}",
            )
    problem = problem or _address_problem(new, given, cleared, moved_country=new_country)
    names = [n for n in RESPONSE_FIELD if n in old or n in new]
    changes = tuple(
        (name, old.get(name), new.get(name, ""))
        for name in names
        if not _same(old.get(name), new.get(name))
    )
    return MergedAddress(new, changes, tuple(dropped), problem)


def _address_problem(
    new: Mapping[str, Value],
    given: Mapping[str, Value],
    cleared: frozenset[str] | set[str],
    *,
    moved_country: bool,
) -> tuple[ErrorCode, str] | None:
    """Why the merged address cannot be sent (the API's and the country's rules), or None."""

    def lacks(field: str, code: ErrorCode, what: str) -> tuple[ErrorCode, str]:
        why = "the row clears it" if field in cleared else "the order has none"
        return code, f"the address would have no {what} ({why}); fill {field} in the row"

    if _empty(new.get("name")) and _empty(new.get("company")):
        return lacks("name" if "name" in cleared else "company", ErrorCode.MISSING_NAME, "name")
    located = not _empty(new.get("latitude")) and not _empty(new.get("longitude"))
    if not located:
        for field, code in (
            ("street", ErrorCode.MISSING_STREET),
            ("city", ErrorCode.MISSING_CITY),
            ("countryIso2", ErrorCode.MISSING_COUNTRY),
        ):
            if _empty(new.get(field)):
                return lacks(field, code, field)
    country = str(new.get("countryIso2") or "").upper()
    if not country:
        return None
    zip_code = new.get("zip")
    if _empty(zip_code):
        if not located and rules_for(country).postal_code_required:
            return lacks("zip", ErrorCode.MISSING_ZIP, f"zip for country {country}")
    elif "zip" in given or moved_country:
        wrong = zip_problem(country, str(zip_code))
        if wrong is not None and "zip" in given:
            return ErrorCode.INVALID_ZIP, wrong
        if wrong is not None:
            kept = f"{wrong}: it is the order's zip, kept; fill zip in the row"
            if not rules_for(country).postal_code_required:
                kept += f" (or #CLEAR: {country} addresses need none)"
            return ErrorCode.INVALID_ZIP, kept
    state = new.get("state")
    if country in STATE_REQUIRED:
        if _empty(state):
            return lacks("state", ErrorCode.MISSING_STATE, f"state for country {country}")
        if ("state" in given or moved_country) and not state_known(country, str(state)):
            return (
                ErrorCode.INVALID_STATE,
                f"state '{state}' is not a state or province of {country}; use its code"
                " (e.g. CA, NY for the US; ON for Canada; NSW for Australia)",
            )
    return None


def _patch_address(merged: MergedAddress) -> dict[str, Value]:
    """A PATCH's address: the whole new address, and "" for each text field it empties, so
    an API that merges a PATCHed address and one that replaces it end up alike."""
    body = dict(merged.body)
    for name, _, new in merged.changes:
        if new == "" and name not in COORDINATES:
            body[name] = ""
    return body
