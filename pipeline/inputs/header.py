"""Find the header row below titles and notes (docs/reference/inputs.md).

The header is the first row, within the first `SEARCH_ROWS`, that names an
order key column (orderId, orderIdentifier, orderReference, or a synonym);
`--header-row N` says which row it is instead.

    find_header([(1, ["Adressänderungen"]), (3, ["PLZ", "Order ID"])], mapping={})  # -> 1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.core.errors import InputFileError
from pipeline.inputs.columns import ORDER_KEYS, known_field, normalize

SEARCH_ROWS = 20
Record = tuple[int, Sequence[str | None]]  # (row number as the person sees it, cells)


def names_order_key(cells: Sequence[str | None], *, mapping: Mapping[str, str]) -> bool:
    """Whether a row of cells could be the header: one of them names an order key."""
    explicit = {normalize(k): v for k, v in mapping.items()}
    for cell in cells:
        if not cell:
            continue
        key = normalize(cell)
        field = explicit.get(key) or known_field(cell)
        if field in ORDER_KEYS:
            return True
    return False


def find_header(
    records: Sequence[Record],
    *,
    mapping: Mapping[str, str],
    header_row: int | None = None,
    source: str = "input",
) -> int:
    """The position in `records` of the header row (the first non-empty one if none names a key)."""
    if header_row is not None:
        for position, (number, cells) in enumerate(records):
            if number == header_row:
                if not any(cells):
                    raise InputFileError(
                        f"{source}: row {header_row} (--header-row) is empty;"
                        " give the number of the row that holds the column names"
                    )
                return position
        raise InputFileError(
            f"{source}: there is no row {header_row} (--header-row);"
            " give the number of the row that holds the column names"
        )
    non_empty = [p for p, (_, cells) in enumerate(records) if any(c for c in cells)]
    for position in non_empty[:SEARCH_ROWS]:
        if names_order_key(records[position][1], mapping=mapping):
            return position
    return non_empty[0] if non_empty else 0


def skipped_warning(records: Sequence[Record], position: int, *, source: str) -> str | None:
    """The warning for rows above the header that hold something (a title, notes)."""
    above = [number for number, cells in records[:position] if any(c for c in cells)]
    if not above:
        return None
    rows = ", ".join(str(n) for n in above)
    return (
        f"{source}: the column names are in row {records[position][0]}; row(s) {rows} above"
        " them (a title or notes) were skipped"
    )
