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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.api.payloads import RESPONSE_FIELD, AddressPayload, PatchPayload
from pipeline.api.profile import ApiProfile, Request
from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.address import (
    COORDINATES,
    REQUEST_FIELD,
    MergedAddress,
    Value,
    _patch_address,
    _same,
    merged_address,
    request_address,
)

ACTIONS = ("update", "address", "cancel")
ADDRESS_TYPES = ("DELIVERY", "INVOICE", "DELIVERY_AND_INVOICE")
TARGET_OF_TYPE = {"DELIVERY": "deliveryAddress", "INVOICE": "invoiceAddress"}
TYPE_OF_TARGET = {target: kind for kind, target in TARGET_OF_TYPE.items()}


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
