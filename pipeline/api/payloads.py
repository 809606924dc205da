"""The API's request bodies as pydantic models, and its request -> response field names.

AddressPayload(name="Ada", street="Main 1", city="Wien", zip="1010", countryIso2="AT")
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Request address field -> field of the order's deliveryAddress / invoiceAddress (docs/api.md).
RESPONSE_FIELD = {
    "name": "name1",
    "company": "company",
    "email": "email",
    "phone": "phone",
    "street": "address1",
    "street2": "address2",
    "city": "city",
    "zip": "zip",
    "state": "state",
    "countryIso2": "country",
    "latitude": "latitude",
    "longitude": "longitude",
}


class AddressPayload(BaseModel):
    """Body of PUT /orders/{id}/address, and the `address` of a PATCH."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    street2: str | None = None
    city: str | None = None
    zip: str | None = None
    state: str | None = None
    countryIso2: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class PatchPayload(BaseModel):
    """Body of PATCH /orders/{id}: only the fields given are changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    comment: str | None = None
    trackingEnabled: bool | None = None
    customAttributes: dict[str, str] | None = None
    address: AddressPayload | None = None


class LoginPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str
    password: str
