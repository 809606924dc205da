"""A validated row's change, and what it means on the wire and on the order.

`Change` is the plain frozen value passed inside the pipeline. It knows the
request that carries it (built through the pydantic payload models of
`pipeline.api.payloads`), the fields it claims on the order (for conflict and
duplicate detection), and what the refetched order must show afterwards.

    change.request(ApiProfile())  # Request("PATCH", "/orders/42", None, {"comment": "..."})
    change.expectations()  # [("comment", "...")]
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.api.payloads import RESPONSE_FIELD, AddressPayload, PatchPayload
from pipeline.api.profile import ApiProfile, Request

ACTIONS = ("update", "address", "cancel")
ADDRESS_TYPES = ("DELIVERY", "INVOICE", "DELIVERY_AND_INVOICE")
Value = str | bool | float


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

    def address_targets(self) -> tuple[str, ...]:
        """The order's address objects this change writes."""
        if self.action == "update":
            return ("deliveryAddress",) if self.address else ()
        if self.action == "address":
            return {
                "DELIVERY": ("deliveryAddress",),
                "INVOICE": ("invoiceAddress",),
                "DELIVERY_AND_INVOICE": ("deliveryAddress", "invoiceAddress"),
            }[self.address_type or "DELIVERY"]
        return ()

    def claims(self) -> dict[str, Value]:
        """Every order field this change sets, as `path -> value`.

        An address row replaces the whole address, so it claims every address
        field, the ones it leaves empty included.
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
        given = dict(self.address)
        for target in self.address_targets():
            fields = RESPONSE_FIELD if self.action == "address" else given
            for field in fields:
                if target == "invoiceAddress" and field in ("latitude", "longitude"):
                    continue
                claimed[f"{target}.{field}"] = given.get(field, "")
        return claimed

    def request(self, profile: ApiProfile) -> Request:
        """The API request that carries this change (bodies go through pydantic models)."""
        if self.action == "cancel":
            return profile.cancel_request(self.order_id)
        address = AddressPayload.model_validate(dict(self.address)) if self.address else None
        if self.action == "address":
            assert address is not None  # an address row always has address fields
            assert self.address_type is not None
            return profile.address_request(
                self.order_id, self.address_type, address.model_dump(exclude_none=True)
            )
        patch = PatchPayload(
            comment=self.comment,
            trackingEnabled=self.tracking_enabled,
            customAttributes=dict(self.custom_attributes) or None,
            address=address,
        )
        return profile.patch_request(self.order_id, patch.model_dump(exclude_none=True))

    def expectations(self) -> list[tuple[str, Value]]:
        """What the refetched order must show: `(path in the order, expected value)`.

        Only the fields the row set; lat/long are not kept on invoice addresses.
        """
        expected: list[tuple[str, Value]] = []
        if self.comment is not None:
            expected.append(("comment", self.comment))
        if self.tracking_enabled is not None:
            expected.append(("trackingEnabled", self.tracking_enabled))
        expected.extend((f"customAttributes.{k}", v) for k, v in self.custom_attributes)
        for target in self.address_targets():
            for field, value in self.address:
                if target == "invoiceAddress" and field in ("latitude", "longitude"):
                    continue
                expected.append((f"{target}.{RESPONSE_FIELD[field]}", value))
        return expected
