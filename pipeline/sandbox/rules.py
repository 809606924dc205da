"""The Quivo API's own rules, as the sandbox enforces them (docs/api.md).

These are the server's rules, written from the API docs, independent of the
client's validation: the sandbox must not trust that the client checked.

    problem = address_problem({"name": "A", "city": "Wien"})  # "address.street: ..."
"""

from __future__ import annotations

from typing import Any

# The ISO 3166-1 alpha-2 codes the server accepts: its own list, written out, so the
# sandbox does not check the client with the client's code (which reads pycountry).
ISO_ALPHA2: frozenset[str] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM
    BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX
    CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG
    GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR
    IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV
    LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE
    NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
    RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF
    WS YE YT ZA ZM ZW
    """.split()
)
# Countries whose addresses the server refuses without a state or province.
STATE_REQUIRED: frozenset[str] = frozenset({"US", "CA", "AU"})

# Countries without a postal-code system: the server's own list (after the UPU's
# addressing data), where "zip required for most countries" does not apply.
NO_POSTAL_CODE: frozenset[str] = frozenset(
    """
    AE AG AO AW BF BI BJ BO BS BW BZ CD CF CG CI CK CM DJ DM ER
    FJ GA GD GH GM GQ GY HK IE KI KM KN KP LY ML MO MR MW NR NU
    QA RW SB SC SL SR ST SY TD TF TG TK TL TO TV UG VU YE ZW
    """.split()
)

COMMENT_MAX_CHARS = 250
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
# Request field -> field of the order's deliveryAddress / invoiceAddress.
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
ADDRESS_TYPES = ("DELIVERY", "INVOICE", "DELIVERY_AND_INVOICE")

# Which status allows what: the API's status table.
UPDATABLE = frozenset({"PROCESSING"})
CANCELLABLE = frozenset({"PENDING", "PROCESSING"})


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def comment_problem(comment: Any) -> str | None:
    if comment is None:
        return None
    if not isinstance(comment, str):
        return "comment: must be a string"
    # Java's String.length(): UTF-16 code units (an emoji counts two), as the real API.
    if len(comment.encode("utf-16-le")) // 2 > COMMENT_MAX_CHARS:
        return f"comment: size must be between 0 and {COMMENT_MAX_CHARS}"
    return None


def address_problem(address: dict[str, Any]) -> str | None:
    """Return the API's plain-text 400 message for a request address, or None."""
    unknown = set(address) - set(ADDRESS_FIELDS)
    if unknown:
        return f"address: unknown field {sorted(unknown)[0]}"
    for key in ("latitude", "longitude"):
        value = address.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"address.{key}: must be a number"
    for key in set(ADDRESS_FIELDS) - {"latitude", "longitude"}:
        value = address.get(key)
        if value is not None and not isinstance(value, str):
            return f"address.{key}: must be a string"
    if _blank(address.get("name")) and _blank(address.get("company")):
        return "address.name: name or company is required"
    lat, lon = address.get("latitude"), address.get("longitude")
    if lat is not None and not -90 <= lat <= 90:
        return "address.latitude: must be between -90 and 90"
    if lon is not None and not -180 <= lon <= 180:
        return "address.longitude: must be between -180 and 180"
    has_coordinates = lat is not None and lon is not None
    country = (address.get("countryIso2") or "").strip().upper()
    if country and country not in ISO_ALPHA2:
        return "address.countryIso2: must be a valid ISO 3166-1 alpha-2 code"
    if not has_coordinates:
        for key in ("street", "city", "countryIso2"):
            if _blank(address.get(key)):
                return f"address.{key}: must not be blank"
        if country not in NO_POSTAL_CODE and _blank(address.get("zip")):
            return f"address.zip: must not be blank for country {country}"
    if country in STATE_REQUIRED and _blank(address.get("state")):
        return f"address.state: is required for country {country}"
    return None


def to_response_address(address: dict[str, Any], *, invoice: bool) -> dict[str, Any]:
    """Map request fields onto the order's address fields (name -> name1, ...)."""
    mapped = {RESPONSE_FIELD[key]: value for key, value in address.items()}
    if "country" in mapped and isinstance(mapped["country"], str):
        mapped["country"] = mapped["country"].strip().upper()
    if invoice:
        mapped.pop("latitude", None)
        mapped.pop("longitude", None)
    return mapped


def to_request_address(response_address: dict[str, Any]) -> dict[str, Any]:
    """The inverse mapping, used to validate a PATCH merged onto the current address."""
    return {
        key: response_address.get(field)
        for key, field in RESPONSE_FIELD.items()
        if response_address.get(field) not in (None, "")
    }
