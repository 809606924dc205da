"""`--rate` values: a count per period, exact fractions, `auto` (docs/reference/commands.md,
docs/rates.md).

Kept free of pydantic so the CLI can build its `--rate` option without
loading the settings machinery (`quivo-bulk --help` stays fast).

    parse_rate("100/min")  # -> RateChoice(count=100, period_s=60.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from pipeline.core.errors import OptionsError

DEFAULT_AUTO_MAX_PER_S = 50.0  # `--rate auto` never goes above this unless `auto:MAX` says so
MAX_RATE_PERIOD_S = 3600.0


@dataclass(frozen=True)
class RateChoice:
    """A parsed `--rate`: `count` requests per `period_s` seconds (or unpaced), maybe auto."""

    count: int | None  # None: unpaced
    period_s: float = 1.0
    auto: bool = False

    @property
    def per_s(self) -> float | None:
        return None if self.count is None else self.count / self.period_s


_UNITS_S = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_PER_PERIOD = re.compile(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(ms|sec|s|min|m|h)")
RATE_HELP = "N (per second), N/min, N/2s, 2.5 (= 5/2s), 0 (unpaced), auto or auto:MAX"


def _per_second(text: str) -> RateChoice:
    """`2.5` -> 5 per 2 s: the count per period that makes a fractional rate exact."""
    try:
        exact = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise OptionsError(f"--rate {text!r} is not a rate; use {RATE_HELP}") from None
    if exact < 0:
        raise OptionsError(f"--rate {text!r} is negative; use {RATE_HELP}")
    if exact == 0:
        return RateChoice(None)
    if exact.denominator > MAX_RATE_PERIOD_S:
        raise OptionsError(
            f"--rate {text!r} needs a period over an hour to be exact;"
            " give a count per period instead, e.g. 100/min"
        )
    return RateChoice(exact.numerator, float(exact.denominator))


def parse_rate(value: str | float) -> RateChoice:
    """Read a `--rate` value (CLI, job file, manifest).

    parse_rate("100/min")  # -> RateChoice(count=100, period_s=60.0)
    parse_rate("auto:200") # -> RateChoice(count=200, period_s=1.0, auto=True)
    """
    text = str(value).strip().lower()
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    if text == "auto" or text.startswith("auto:"):
        ceiling = text[5:] if text.startswith("auto:") else str(int(DEFAULT_AUTO_MAX_PER_S))
        choice = parse_rate(ceiling) if ceiling else RateChoice(None)
        if choice.count is None:
            raise OptionsError(f"--rate {value!r}: auto needs a positive MAX, e.g. auto:100")
        return RateChoice(choice.count, choice.period_s, auto=True)
    match = _PER_PERIOD.fullmatch(text)
    if match is None:
        return _per_second(text)
    count, span, unit = match.groups()
    period_s = float(span or 1) * _UNITS_S[unit]
    if int(count) == 0 or period_s <= 0 or period_s > MAX_RATE_PERIOD_S:
        raise OptionsError(
            f"--rate {value!r}: give a positive count per period of at most an hour, e.g. 100/min"
        )
    return RateChoice(int(count), period_s)
