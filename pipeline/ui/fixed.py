"""The fixed file: a copy of her upload with only the cells she edited changed.

A workbook is edited with openpyxl, so every sheet, the title rows above the
header, filters, hidden rows, number formats and column widths stay as they
were; a text file keeps its separator, encoding and line endings, and every
record she did not edit keeps its exact bytes. So the copy reads back with the
same row numbers as her file, and she can save it over her original.

    write_fixed(upload, target, source=source, sheet=None, edits={7: {"Ort": "Wien"}})
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from pipeline.core.errors import InputFileError
from pipeline.inputs.csvsafe import guard
from pipeline.inputs.excel import show_number
from pipeline.inputs.read import SourceFile

Edits = Mapping[int, Mapping[str, str | None]]  # her row number -> header -> new text
_NUMBER = re.compile(r"-?[0-9]+([.,][0-9]+)?")


def write_fixed(
    upload: Path, target: Path, *, source: SourceFile, sheet: str | None, edits: Edits
) -> None:
    """Write `upload` to `target` with `edits` applied, in the upload's own kind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not edits:
        shutil.copyfile(upload, target)
    elif source.kind == "excel":
        _fixed_workbook(upload, target, source=source, sheet=sheet, edits=edits)
    elif source.kind == "text":
        _fixed_text(upload, target, source=source, edits=edits)
    else:
        _fixed_parquet(upload, target, edits=edits)
    target.chmod(0o600)


def _excel_value(old: object, text: str | None, number_format: str) -> object:
    """What to store: a number where the cell held one and the text is that number as
    the cell's format shows it (a zip `01067` under `00000`), else the text."""
    if text is None or text == "":
        return None
    if isinstance(old, int | float) and not isinstance(old, bool) and _NUMBER.fullmatch(text):
        number = float(text.replace(",", "."))
        if show_number(number, number_format) == text:
            return int(number) if number.is_integer() else number
    return text


def _fixed_workbook(
    upload: Path, target: Path, *, source: SourceFile, sheet: str | None, edits: Edits
) -> None:
    import openpyxl

    book = openpyxl.load_workbook(upload)  # not read-only: everything is written back
    sheet_ = book[sheet] if sheet is not None else book.worksheets[0]
    if source.header_row is None:
        raise InputFileError(f"{source.name}: its header row is not known; upload it again")
    header_cells = next(sheet_.iter_rows(min_row=source.header_row, max_row=source.header_row))
    width = max(len(header_cells), sheet_.max_column)
    from pipeline.inputs.text import unique_names

    names = [c.value for c in header_cells] + [None] * (width - len(header_cells))
    headers = unique_names(
        [None if v is None else str(v) for v in names], source.name, letters=True
    )
    column = {h: position for position, h in enumerate(headers, start=1)}
    for row, cells in edits.items():
        for header, text in cells.items():
            if header not in column:
                continue
            cell = sheet_.cell(row=row, column=column[header])
            cell.value = _excel_value(cell.value, text, cell.number_format)
    book.save(target)


def _encoding(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _fixed_text(upload: Path, target: Path, *, source: SourceFile, edits: Edits) -> None:
    data = upload.read_bytes()
    encoding = _encoding(data)
    text = data.decode(encoding)
    separator = source.separator or ","
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.split("\n")
    header_line = source.header_row or 1
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    # (first line, last line, record) of every record, lines counted from 1
    spans: list[tuple[int, int, list[str]]] = []
    previous = 0
    for record in reader:
        spans.append((previous + 1, reader.line_num, record))
        previous = reader.line_num
    headers: list[str] = []
    for first, _, record in spans:
        if first == header_line:
            from pipeline.inputs.text import unique_names

            headers = unique_names(record, source.name)
    column = {h: position for position, h in enumerate(headers)}
    # the edited records, written last to first so earlier line numbers stay true
    for first, last, record in reversed(spans):
        if first not in edits:
            continue
        cells = list(record)
        for header, value in edits[first].items():
            if header in column:
                position = column[header]
                cells += [""] * (position + 1 - len(cells))
                cells[position] = guard(value) if value else ""
        out = io.StringIO()
        csv.writer(out, delimiter=separator, lineterminator=newline).writerow(cells)
        written = out.getvalue().removesuffix(newline)
        ending = "\r" if lines[last - 1].endswith("\r") else ""
        lines[first - 1 : last] = (written + ending).split("\n")
    target.write_bytes("\n".join(lines).encode(encoding))


def _fixed_parquet(upload: Path, target: Path, *, edits: Edits) -> None:
    frame = pl.read_parquet(upload)
    for row, cells in edits.items():
        for header, value in cells.items():
            if header in frame.columns:
                column = frame[header].cast(pl.String).clone()
                column.scatter([row - 1], [value or None])
                frame = frame.with_columns(column)
    frame.write_parquet(target)
