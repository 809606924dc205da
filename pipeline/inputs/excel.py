"""Read an .xlsx sheet as the person sees it: Excel's row numbers, cells as displayed.

openpyxl (read-only, streaming) gives what a values-only reader loses: each
cell's type and number format; the sheet's XML says which rows are hidden
(filtered out). So a zip stored as 1067 with
the format `00000` reads `01067`, a date reads as its format shows it
(`01.12.2026`, not `2026-12-01 00:00:00`), and a number too large for a float
to hold exactly (a 17-digit ID) is written in scientific notation so that the
ID check refuses it instead of taking the wrong order.

    grid = read_excel(Path("fixes.xlsx"), source="fixes.xlsx", sheet=None, mapping={},
                      header_row=None)
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import polars as pl

from pipeline.core.errors import InputFileError
from pipeline.inputs.header import find_header, skipped_warning
from pipeline.inputs.text import Grid, unique_names

# Excel keeps 15 significant digits and a float 15.95: a number cell of 16 digits or more
# may already have lost some (12345678901234567 is stored as 1.23456789012346E16).
EXACT_DIGITS_LIMIT = 10**15
# Excel's built-in short date (number format 14) is shown in the reader's locale:
# nobody can tell which, so it becomes an ISO date.
_LOCALE_DATE = "mm-dd-yy"
_DATE_TOKENS = re.compile(r"yyyy|yy|dd|d|mm|m|hh|h|ss|s|AM/PM|\[[^\]]*\]|\"[^\"]*\"|\\.|.", re.I)


def _strftime_for(number_format: str) -> str | None:
    """A strftime pattern for an Excel date format (`dd.mm.yyyy` -> `%d.%m.%Y`), or None.

    Excel's rule for `m`: minutes right after an hour or right before seconds, else month.
    """
    tokens = _DATE_TOKENS.findall(number_format.split(";")[0])
    kinds = [t.lower() for t in tokens]
    date_positions = [p for p, k in enumerate(kinds) if k in _PARTS]
    out: list[str] = []
    for position, (token, low) in enumerate(zip(tokens, kinds, strict=True)):
        if low in ("mm", "m"):
            index = date_positions.index(position)
            before = kinds[date_positions[index - 1]] if index > 0 else ""
            after = kinds[date_positions[index + 1]] if index + 1 < len(date_positions) else ""
            minute = before in ("h", "hh") or after in ("s", "ss")
            out.append(("%M" if minute else "%m") if low == "mm" else ("%-M" if minute else "%-m"))
        elif low in _PARTS:
            out.append(_PARTS[low])
        elif low.startswith("[") or low == "am/pm":
            return None
        else:
            out.append(token.strip('"').removeprefix("\\").replace("%", "%%"))
    return "".join(out) if date_positions else None


_PARTS = {
    "yyyy": "%Y",
    "yy": "%y",
    "dd": "%d",
    "d": "%-d",
    "hh": "%H",
    "h": "%-H",
    "ss": "%S",
    "s": "%-S",
    "mm": "",
    "m": "",
}


def show_date(value: dt.datetime | dt.date | dt.time, number_format: str) -> str:
    """A date cell as Excel shows it; the ISO form where the format is the locale's."""
    pattern = None if number_format == _LOCALE_DATE else _strftime_for(number_format)
    if pattern is not None:
        try:
            return value.strftime(pattern)
        except ValueError:
            pass
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    return value.isoformat()


def show_number(value: float, number_format: str) -> str:
    """A number cell as text: `00000` zero-pads, integral floats lose `.0`, and a
    number beyond a float's exact range keeps the scientific form Excel shows."""
    if abs(value) >= EXACT_DIGITS_LIMIT:
        return f"{value:.15E}".replace("E+", "E")
    if float(value).is_integer():
        text = str(int(value))
        if number_format and set(number_format) == {"0"} and len(text) < len(number_format):
            text = text.zfill(len(number_format))
        return text
    return repr(float(value))


def show_cell(value: Any, number_format: str) -> str | None:
    """One cell's text as the person sees it (None for an empty cell)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return show_number(value, number_format)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return show_date(value, number_format)
    return str(value)


def hidden_rows(path: Path, sheet_xml: str) -> frozenset[int]:
    """Rows marked hidden (filtered out) in a sheet's XML, streamed: openpyxl's read-only
    mode, which keeps memory flat for large workbooks, does not keep them."""
    hidden: set[int] = set()
    with zipfile.ZipFile(path) as archive, archive.open(sheet_xml) as stream:
        number = 0
        for _, element in ElementTree.iterparse(stream):
            if element.tag.rpartition("}")[2] == "row":
                number = int(element.get("r") or number + 1)
                if element.get("hidden") in ("1", "true"):
                    hidden.add(number)
                element.clear()
    return frozenset(hidden)


def read_excel(
    path: Path,
    *,
    source: str,
    sheet: str | None,
    mapping: Mapping[str, str],
    header_row: int | None,
) -> Grid:
    """Read the first sheet (or `sheet`) of a workbook (see the module docstring)."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises zipfile/XML/KeyError types for damage
        first = str(error).split("\n", 1)[0]
        raise InputFileError(
            f"{source}: cannot be opened as an Excel workbook: it is damaged or not an .xlsx"
            f" file; open it in Excel and save it again as .xlsx (detail: {first})"
        ) from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            names = ", ".join(repr(name) for name in workbook.sheetnames)
            raise InputFileError(f"{source}: there is no sheet {sheet!r}; the sheets are {names}")
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        worksheet.reset_dimensions()  # the stored used range may be wrong; read what is there
        records: list[tuple[int, list[str | None]]] = [
            (number, [show_cell(cell.value, getattr(cell, "number_format", "")) for cell in cells])
            for number, cells in enumerate(worksheet.iter_rows(min_row=1), start=1)
        ]
        hidden = hidden_rows(path, worksheet._worksheet_path)
    except InputFileError:
        raise
    except Exception as error:
        first = str(error).split("\n", 1)[0]
        raise InputFileError(f"{source}: the sheet cannot be read ({first})") from None
    finally:
        workbook.close()
    if not records:
        raise InputFileError(f"{source}: the sheet is empty; it needs a header row and data rows")
    position = find_header(records, mapping=mapping, header_row=header_row, source=source)
    warnings = [w for w in [skipped_warning(records, position, source=source)] if w]
    data = records[position + 1 :]
    width = max(len(cells) for _, cells in records[position:])
    header_cells = list(records[position][1])
    padded = header_cells + [None] * (width - len(header_cells))
    headers = unique_names(padded, source, letters=True)
    frame = pl.DataFrame(
        [[cells[i] if i < len(cells) else None for _, cells in data] for i in range(len(headers))],
        schema=dict.fromkeys(headers, pl.String),
        orient="col",
    )
    rows = [number for number, _ in data]
    header_line = records[position][0]
    return Grid(frame, headers, rows, None, warnings, hidden & frozenset(rows), header_line)
