"""Read a CSV / TSV / TXT file into text cells numbered by their line (docs/reference/inputs.md,
docs/reference/outputs.md).

UTF-8 (BOM or not), UTF-16 with BOM, else cp1252 with a warning. A `sep=;`
first line (Excel's separator hint) sets the separator; otherwise it is
sniffed from the header line. The header is found below titles and notes.
Each record's `row` is the line number of its first line (header = its line).

    grid = read_text(Path("fixes.csv"), source="fixes.csv", mapping={}, header_row=None)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.core.errors import InputFileError
from pipeline.inputs.csvsafe import unguard_frame
from pipeline.inputs.header import SEARCH_ROWS, find_header, skipped_warning

SEPARATORS = (",", ";", "\t")
_SEP_HINT = re.compile(r'^\ufeff?"?sep=(.)"?[,;\t]*\r?$', re.IGNORECASE)


@dataclass(frozen=True)
class Grid:
    """A file's cells below its header, every cell text, with the person's row numbers."""

    frame: pl.DataFrame  # one column per header, all String
    headers: list[str]
    rows: pl.Series | list[int]  # the row number (line, Excel row, position) of each row
    separator: str | None
    warnings: list[str]
    hidden: frozenset[int] = frozenset()  # rows hidden (filtered out) in a workbook
    header_row: int | None = None  # the row (line, Excel row) holding the header


def decode_text(data: bytes, *, source: str) -> tuple[str, str | None]:
    """Decode a text file: UTF-8 (BOM or not), UTF-16 with BOM, else cp1252 with a warning."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), None
    if data.startswith(b"PK\x03\x04"):
        raise InputFileError(
            f"{source}: this is an Excel workbook, not a text file; rename it to .xlsx"
        )
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        warning = f"{source} is not UTF-8; it was read as Windows-1252 (cp1252)"
        return data.decode("cp1252", errors="replace"), warning


def sniff_separator(header_line: str, *, suffix: str) -> str:
    """The separator among `,` `;` tab that the header line uses most (tab for .tsv)."""
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    if counts[best] == 0:
        return "\t" if suffix == ".tsv" else ","
    return best


def column_letters(position: int) -> str:
    """Excel's name of a column: 1 -> A, 27 -> AA."""
    letters = ""
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


UNNAMED_PREFIX = "(no header) column "


def unique_names(headers: Sequence[str | None], source: str, *, letters: bool = False) -> list[str]:
    """Header names as written; an unnamed column is named by where a person finds it:
    `(no header) column 3`, or `(no header) column C` in a workbook (`letters`)."""
    names: list[str] = []
    for position, header in enumerate(headers, start=1):
        where = column_letters(position) if letters else str(position)
        name = (header or "").strip() or UNNAMED_PREFIX + where
        if name in names:
            raise InputFileError(
                f"{source}: the column '{name}' appears twice; delete or rename one of them"
            )
        names.append(name)
    return names


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def _split(line: str, separator: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=separator), [])
    except csv.Error:
        return [line]


def _record_lines(text: str, separator: str, first_line: int) -> list[int]:
    """The line number each record of `text` starts on (a quoted cell may span lines)."""
    starts: list[int] = []
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    previous = 0
    try:
        for _ in reader:
            starts.append(first_line + previous)
            previous = reader.line_num
    except csv.Error:
        pass  # polars reports the damage with a better message
    return starts


def _ragged_line(text: str, separator: str, width: int, first_line: int) -> int | None:
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    previous = 0
    for record in reader:
        if len(record) > width:
            return first_line + previous
        previous = reader.line_num
    return None


def read_text(
    path: Path, *, source: str, mapping: Mapping[str, str], header_row: int | None
) -> Grid:
    """Read one text file (see the module docstring)."""
    text, warning = decode_text(path.read_bytes(), source=source)
    warnings = [warning] if warning else []
    if "\x00" in text:
        raise InputFileError(
            f"{source}: contains NUL bytes, so it is not a text table;"
            " export it again as CSV (UTF-8)"
        )
    if not text.strip():
        raise InputFileError(f"{source}: the file is empty; it needs a header row and data rows")
    reach = max(SEARCH_ROWS, header_row or 0) + 1  # lines to look at: the hint and 20 rows
    lines = text.split("\n", reach + 1)[:reach]
    hint = _SEP_HINT.match(lines[0])
    forced = hint.group(1) if hint else None
    suffix = path.suffix.lower()
    records = [
        (number, _split(line.rstrip("\r"), forced or sniff_separator(line, suffix=suffix)))
        for number, line in enumerate(lines, start=1)
        if not (hint and number == 1)
    ]
    position = find_header(records, mapping=mapping, header_row=header_row, source=source)
    header_line = records[position][0]
    skipped = skipped_warning(records, position, source=source)
    if skipped:
        warnings.append(skipped)
    separator = forced or sniff_separator(lines[header_line - 1], suffix=suffix)
    offset = 0
    for _ in range(header_line - 1):
        offset = text.index("\n", offset) + 1
    body = text[offset:]
    try:
        headers = next(csv.reader(io.StringIO(body), delimiter=separator))
    except (csv.Error, StopIteration) as error:
        raise InputFileError(f"{source}: the header row cannot be read ({error})") from None
    try:
        frame = pl.read_csv(
            io.BytesIO(body.encode("utf-8")),
            separator=separator,
            infer_schema=False,
            has_header=True,
            new_columns=unique_names(headers, source),
            raise_if_empty=False,
        )
    except pl.exceptions.ComputeError as error:
        ragged = _ragged_line(body, separator, len(headers), header_line)
        if ragged is not None:
            raise InputFileError(
                f"{source}: row {ragged} has more cells than the header has columns;"
                " remove the extra cells or add a header for them"
            ) from None
        if "could not parse" in str(error):
            raise InputFileError(
                f'{source}: a quoted cell is never closed; check the quote characters (")'
            ) from None
        raise InputFileError(
            f"{source}: cannot be read as CSV ({_first_line(str(error))})"
        ) from None
    counted = pl.int_range(header_line + 1, header_line + 1 + frame.height, eager=True)
    rows: pl.Series | list[int] = counted  # one record a line: counted, no Python list
    if '"' in body:  # a quoted cell may span lines: the csv module says where records start
        starts = _record_lines(body, separator, header_line)[1 : frame.height + 1]
        rows = starts if len(starts) == frame.height else counted
    return Grid(
        unguard_frame(frame), list(frame.columns), rows, separator, warnings, header_row=header_line
    )
