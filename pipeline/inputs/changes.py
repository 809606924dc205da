"""A validated row's change, and what it means on the wire and on the order.

`Change` is the plain frozen value passed inside the pipeline. It knows the
requests that carry it (built through the pydantic payload models of
`pipeline.api.payloads`), the fields it names on the order (for conflict and
duplicate detection), and what the refetched order must show afterwards.

An address goes out whole: the order's current address (its before-image, read
first) with the row's fields laid over it (`merged_address`, a pure function), so
a row changes exactly the fields it names (README "Address corrections").

    change.requests(ApiProfile(), order)  # [Request("PUT", "/orders/42/address", ...)]
    change.expectations(order)  # [("deliveryAddress.city", "Graz"), ...]
    merged_address(order["deliveryAddress"], {"city": "Graz"}, frozenset({"street2"}))
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.api.payloads import RESPONSE_FIELD, AddressPayload, PatchPayload
from pipeline.api.profile import ApiProfile, Request
from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.countries import STATE_REQUIRED, rules_for, state_known, zip_problem

ACTIONS = ("update", "address", "cancel")
ADDRESS_TYPES = ("DELIVERY", "INVOICE", "DELIVERY_AND_INVOICE")
Value = str | bool | float
CLEAR = "#CLEAR"  # a cell that clears its field (any case)
REQUEST_FIELD = {response: request for request, response in RESPONSE_FIELD.items()}
COORDINATES = ("latitude", "longitude")
PLACE = ("street", "zip", "city", "countryIso2")  # changing one moves the address elsewhere
TARGET_OF_TYPE = {"DELIVERY": "deliveryAddress", "INVOICE": "invoiceAddress"}
TYPE_OF_TARGET = {target: kind for kind, target in TARGET_OF_TYPE.items()}


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


@dataclass(frozen=True, slots=True)
class AddressPlan:
    """How a change's address fields go out on one order: its requests, a note, or why not."""

    writes: tuple[AddressWrite, ...] = ()
    note: str | None = None
    problem: tuple[ErrorCode, str] | None = None


@dataclass(frozen=True, slots=True)
class AddressWrite:
    """One address request: its type (None: an update's PATCH), the order's address objects
    it writes, and the merged address of each (the body is the first one's)."""

    address_type: str | None
    targets: tuple[str, ...]
    merged: tuple[MergedAddress, ...]

    @property
    def body(self) -> dict[str, Value]:
        return self.merged[0].body


@dataclass(frozen=True, slots=True)
class Change:
    """One valid input row: the change it asks for on one order."""

    index: int  # position in the input table
    order_id: int
    action: str  # "update" | "address" | "cancel"
    address_type: str | None  # address rows only
    comment: str | None = None
    tracking_enabled: bool | None = None
    custom_attributes: tuple[tuple[str, str], ...] = ()
    address: tuple[tuple[str, Value], ...] = ()  # request field -> value, non-empty only
    cleared: tuple[str, ...] = ()  # request fields the row clears (`#CLEAR`)

    def writes_address(self) -> bool:
        return self.action != "cancel" and bool(self.address or self.cleared)

    def address_targets(self) -> tuple[str, ...]:
        """The order's address objects this change writes."""
        if self.action == "update":
            return ("deliveryAddress",) if self.writes_address() else ()
        if self.action == "address":
            return {
                "DELIVERY": ("deliveryAddress",),
                "INVOICE": ("invoiceAddress",),
                "DELIVERY_AND_INVOICE": ("deliveryAddress", "invoiceAddress"),
            }[self.address_type or "DELIVERY"]
        return ()

    def claims(self) -> dict[str, Value]:
        """Every order field this change names, as `path -> value` ("" for a cleared one).

        An address row names only the fields it gives or clears: the others keep the
        order's values, so two rows naming different fields of one address do not conflict.
        """
        claimed: dict[str, Value] = {}
        if self.action == "cancel":
            return {"cancelRequest": True}
        if self.comment is not None:
            claimed["comment"] = self.comment
        if self.tracking_enabled is not None:
            claimed["trackingEnabled"] = self.tracking_enabled
        for key, text in self.custom_attributes:
            claimed[f"customAttributes.{key}"] = text
        named: dict[str, Value] = {**dict(self.address), **dict.fromkeys(self.cleared, "")}
        for target in self.address_targets():
            for field in RESPONSE_FIELD:
                if field not in named:
                    continue
                if target == "invoiceAddress" and field in COORDINATES:
                    continue
                claimed[f"{target}.{field}"] = named[field]
        return claimed

    def plan_address(self, order: Mapping[str, Any]) -> AddressPlan:
        """The address requests this change makes on `order` (its before-image, or the
        order as the change before it left it): the current address of each type with
        the row's fields laid over it (`merged_address`)."""
        if not self.writes_address():
            return AddressPlan()
        given = dict(self.address)
        cleared = frozenset(self.cleared)
        kind = "DELIVERY" if self.action == "update" else self.address_type or "DELIVERY"
        if kind != "DELIVERY_AND_INVOICE":
            target = TARGET_OF_TYPE[kind]
            merged = merged_address(
                order.get(target), given, cleared, invoice=target == "invoiceAddress"
            )
            write = AddressWrite(None if self.action == "update" else kind, (target,), (merged,))
            return AddressPlan((write,), problem=merged.problem)
        if not request_address(order.get("invoiceAddress")):
            return AddressPlan(
                problem=(
                    ErrorCode.NO_INVOICE_ADDRESS,
                    "the order has no invoice address whose other fields could be kept; use"
                    " addressType DELIVERY for the delivery address, and an INVOICE row with"
                    " the whole invoice address to add one",
                )
            )
        delivery = merged_address(order.get("deliveryAddress"), given, cleared)
        invoice = merged_address(order.get("invoiceAddress"), given, cleared, invoice=True)
        problem = delivery.problem or invoice.problem
        own = {k: v for k, v in delivery.body.items() if k not in COORDINATES}
        if own == invoice.body:
            both = AddressWrite(kind, ("deliveryAddress", "invoiceAddress"), (delivery, invoice))
            return AddressPlan((both,), problem=problem)
        old_delivery = request_address(order.get("deliveryAddress"))
        old_invoice = request_address(order.get("invoiceAddress"))
        differ = [
            name
            for name in RESPONSE_FIELD
            if name not in COORDINATES
            and name not in given
            and name not in cleared
            and not _same(old_delivery.get(name), old_invoice.get(name))
        ]
        note = (
            f"the delivery and invoice addresses differ in {', '.join(differ) or 'state'};"
            " each keeps its own: sent as one PUT per type"
        )
        writes = (
            AddressWrite("DELIVERY", ("deliveryAddress",), (delivery,)),
            AddressWrite("INVOICE", ("invoiceAddress",), (invoice,)),
        )
        return AddressPlan(writes, note, problem)

    def requests(self, profile: ApiProfile, order: Mapping[str, Any] | None) -> list[Request]:
        """The API requests that carry this change (bodies go through pydantic models).

        `order`: the order as the change finds it; an address is sent whole, built from
        it. Without it (never for a change that writes an address: it is read first) only
        the row's own fields are sent.
        """
        if self.action == "cancel":
            return [profile.cancel_request(self.order_id)]
        writes = self.plan_address(order).writes if order is not None else ()
        if self.action == "address":
            if not writes:  # not read: the row's own fields (a PUT replaces the rest)
                assert self.address_type is not None
                own = MergedAddress(dict(self.address), ())
                writes = (AddressWrite(self.address_type, (), (own,)),)
            return [
                profile.address_request(
                    self.order_id,
                    write.address_type or "DELIVERY",
                    AddressPayload.model_validate(write.body).model_dump(exclude_none=True),
                )
                for write in writes
            ]
        address = None
        if writes:
            address = AddressPayload.model_validate(_patch_address(writes[0].merged[0]))
        elif self.address:
            address = AddressPayload.model_validate(dict(self.address))
        patch = PatchPayload(
            comment=self.comment,
            trackingEnabled=self.tracking_enabled,
            customAttributes=dict(self.custom_attributes) or None,
            address=address,
        )
        return [profile.patch_request(self.order_id, patch.model_dump(exclude_none=True))]

    def request(self, profile: ApiProfile, order: Mapping[str, Any] | None = None) -> Request:
        """The change's only request (a change may need two: `requests`)."""
        found = self.requests(profile, order)
        assert len(found) == 1, "this change goes out as several requests"
        return found[0]

    def expectations(self, order: Mapping[str, Any] | None = None) -> list[tuple[str, Value]]:
        """What the refetched order must show: `(path in the order, expected value)`.

        The fields the row set, and with `order` (the order as the change found it)
        every field of the address it wrote, the kept ones too ("" for an empty one);
        lat/long are not kept on invoice addresses.
        """
        expected: list[tuple[str, Value]] = []
        if self.comment is not None:
            expected.append(("comment", self.comment))
        if self.tracking_enabled is not None:
            expected.append(("trackingEnabled", self.tracking_enabled))
        expected.extend((f"customAttributes.{k}", v) for k, v in self.custom_attributes)
        if order is None:
            for target in self.address_targets():
                for field, value in self.address:
                    if target == "invoiceAddress" and field in COORDINATES:
                        continue
                    expected.append((f"{target}.{RESPONSE_FIELD[field]}", value))
            return expected
        for write in self.plan_address(order).writes:
            for target, merged in zip(write.targets, write.merged, strict=True):
                for field, response in RESPONSE_FIELD.items():
                    if target == "invoiceAddress" and field in COORDINATES:
                        continue
                    expected.append((f"{target}.{response}", merged.body.get(field, "")))
        return expected

    def named(self, path: str) -> bool:
        """Whether `path` (`deliveryAddress.email`) is a field the row gives or clears."""
        target, _, field = path.partition(".")
        if target not in TYPE_OF_TARGET:
            return True
        name = REQUEST_FIELD.get(field, field)
        return name in dict(self.address) or name in self.cleared


def after_writes(order: Mapping[str, Any], writes: tuple[AddressWrite, ...]) -> dict[str, Any]:
    """The order as it is once `writes` landed (for the next change of the same order)."""
    changed = dict(order)
    for write in writes:
        for target, merged in zip(write.targets, write.merged, strict=True):
            address = dict(changed.get(target) or {})
            for field, response in RESPONSE_FIELD.items():
                if target == "invoiceAddress" and field in COORDINATES:
                    continue
                empty: Value | None = None if field in COORDINATES else ""
                address[response] = merged.body.get(field, empty)
            changed[target] = address
    return changed
