"""Cells a row's action does not send (a comment on an address row, a name on a cancel
row) are notes, not errors: one note per column, and the plan shows them as not sent
(docs/reference/inputs.md).

    notes = unsent_cells(table, checked)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import polars as pl

from pipeline.inputs.columns import ADDRESS_FIELDS, ATTRIBUTE_PREFIX

if TYPE_CHECKING:
    from pipeline.inputs.rows import CheckedRows

_SENDS = {
    "update": frozenset({"comment", "trackingEnabled", *ADDRESS_FIELDS}),
    "address": frozenset(ADDRESS_FIELDS),
    "cancel": frozenset(),
}
_SENT_BY = {
    "address": "an update or address row sends it",
    "other": "an update row sends it",
    "type": "an address row sends it",
}


def unsent_cells(
    fields: pl.DataFrame,
    checked: CheckedRows,
    columns: Sequence[tuple[str, Mapping[str, str]]],
) -> tuple[list[str], tuple[tuple[str, pl.Series], ...]]:
    """Filled cells of valid rows that the row's action does not send (a comment on an
    address row, a name on a cancel row): not sent, and no reason to refuse the row.

    `columns`: per input file, its name and its header -> canonical field map. Returns
    one note per column and action ("'Kommentar' is not sent with address rows; an
    update row sends it") and, per such header, the indexes of its rows (a Series: a
    million cancels with a name beside each cost 8 MB, not a Python object per row).
    """
    if not len(checked):
        return [], ()
    rejected = pl.Series(sorted(checked.rejections), dtype=pl.Int64)
    valid = ~pl.int_range(0, len(checked), eager=True).is_in(rejected)
    actions = pl.Series(checked.actions, dtype=pl.String)
    kinds = fields["addressType"].str.to_uppercase() if "addressType" in fields.columns else None
    other_type = (
        kinds.is_not_null() & (kinds != "DELIVERY")
        if kinds is not None
        else pl.Series([False] * len(checked))
    )
    notes: list[str] = []
    found: list[tuple[str, pl.Series]] = []
    for name, mapping in columns:
        in_file = (fields["file"] == name) & valid
        for header, canonical in mapping.items():
            if canonical not in fields.columns:
                continue
            is_attribute = canonical.startswith(ATTRIBUTE_PREFIX)
            if canonical not in _SENDS["update"] and not is_attribute:
                continue  # order keys, action, addressType: not sent as such
            filled = in_file & fields[canonical].is_not_null()
            for action in ("address", "cancel", "update"):
                if action == "update" and canonical in ADDRESS_FIELDS:
                    # An update sends the delivery address only: not for another type.
                    rows = (filled & (actions == action) & other_type).arg_true()
                    where, sender = "update rows for another addressType", _SENT_BY["type"]
                elif canonical in _SENDS[action] or (action == "update" and is_attribute):
                    continue
                else:
                    rows = (filled & (actions == action)).arg_true()
                    where = f"{action} rows"
                    sender = _SENT_BY["address" if canonical in ADDRESS_FIELDS else "other"]
                if rows.is_empty():
                    continue
                notes.append(
                    f"note: {name}: '{header}' is not sent with {where} ({rows.len()}"
                    f" row{'s' if rows.len() != 1 else ''}); {sender}"
                )
                found.append((header, rows))
    return notes, tuple(found)
