"""Excel-safe CSV cells: a formula guard that reading removes again (docs/reference/outputs.md).

A text cell that Excel would run as a formula (it starts with `=`, `+`, `-`,
`@`, tab or CR) is written with a leading `'`. To make the guard reversible,
a cell that already starts with quotes before such a character gets one more.

    guard("=SUM(A1)") == "'=SUM(A1)" and unguard("'=SUM(A1)") == "=SUM(A1)"
"""

from __future__ import annotations

import re

import polars as pl

TRIGGERS = "=+-@\t\r"
# Cells needing a guard: any run of quotes, then a formula trigger.
_NEEDS_GUARD = re.compile(r"^'*[=+\-@\t\r]")
_GUARDED = re.compile(r"^''*[=+\-@\t\r]")


def guard(text: str) -> str:
    """Prefix `'` when Excel would read `text` as a formula."""
    return "'" + text if _NEEDS_GUARD.match(text) else text


def unguard(text: str) -> str:
    """Remove the prefix `guard` added; any other text is returned as it is."""
    return text[1:] if _GUARDED.match(text) else text


def guard_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Guard every text column of `frame` (vectorised `guard`)."""
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(_NEEDS_GUARD.pattern))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def unguard_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Remove the guard from every text column of `frame` (vectorised `unguard`)."""
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(_GUARDED.pattern))
        .then(pl.col(name).str.slice(1))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )
