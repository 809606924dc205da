"""Read input files (CSV/TSV/TXT, XLSX, Parquet) into one table of text cells (SPEC §4).

Every cell is read as text, each row remembers its file and 1-based data row
number, and headers are matched onto canonical fields (`pipeline.inputs.columns`).

    table = read_inputs([Path("fixes.csv")], mapping={}, sheet=None)
    table.fields  # file, row, orderId, action, ... (stripped, empty -> null)
    table.raw     # file, row, then every input column as written
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.errors import InputFileError
from pipeline.inputs.columns import ColumnMap, match_columns
from pipeline.inputs.csvsafe import unguard_frame

TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
EXCEL_SUFFIXES = frozenset({".xlsx"})
PARQUET_SUFFIXES = frozenset({".parquet"})
SUPPORTED = ", ".join(sorted(TEXT_SUFFIXES | EXCEL_SUFFIXES | PARQUET_SUFFIXES))
SEPARATORS = (",", ";", "\t")
MAX_CELL_CHARS = 100_000  # far beyond any real cell; a larger one is a broken file


@dataclass(frozen=True)
class SourceFile:
    """One input file as read: its identity, headers and how they map."""

    path: Path
    name: str  # as the user gave it; the `file` column of the reports
    kind: str  # "text" | "excel" | "parquet"
    sha256: str
    headers: tuple[str, ...]  # the input's own columns, spelling and order as written
    columns: ColumnMap
    rows: int


@dataclass(frozen=True)
class InputTable:
    """All input rows, concatenated in input order."""

    files: tuple[SourceFile, ...]
    raw: pl.DataFrame  # file, row, then the union of the input's own columns
    fields: pl.DataFrame  # file, row, then canonical fields (stripped text, empty -> null)
    warnings: tuple[str, ...]

    @property
    def has_excel(self) -> bool:
        return any(source.kind == "excel" for source in self.files)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def _ragged_row(text: str, separator: str, width: int) -> int | None:
    for number, record in enumerate(csv.reader(io.StringIO(text), delimiter=separator)):
        if number and len(record) > width:
            return number
    return None


def _read_text(path: Path, source: str) -> tuple[pl.DataFrame, list[str], list[str]]:
    data = path.read_bytes()
    text, warning = decode_text(data, source=source)
    warnings = [warning] if warning else []
    if "\x00" in text:
        raise InputFileError(
            f"{source}: contains NUL bytes, so it is not a text table;"
            " export it again as CSV (UTF-8)"
        )
    if not text.strip():
        raise InputFileError(f"{source}: the file is empty; it needs a header row and data rows")
    separator = sniff_separator(_first_line(text), suffix=path.suffix.lower())
    try:
        headers = next(csv.reader(io.StringIO(text), delimiter=separator))
    except csv.Error as error:
        raise InputFileError(f"{source}: the header row cannot be read ({error})") from None
    try:
        frame = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=separator,
            infer_schema=False,
            has_header=True,
            new_columns=_unique_names(headers, source),
            raise_if_empty=False,
        )
    except pl.exceptions.ComputeError as error:
        ragged = _ragged_row(text, separator, len(headers))
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
    return unguard_frame(frame), list(frame.columns), warnings


def _unique_names(headers: Sequence[str], source: str) -> list[str]:
    names: list[str] = []
    for position, header in enumerate(headers, start=1):
        name = header.strip() or f"column{position}"
        if name in names:
            raise InputFileError(
                f"{source}: the column '{name}' appears twice; delete or rename one of them"
            )
        names.append(name)
    return names


def _read_excel(path: Path, source: str, sheet: str | None) -> tuple[pl.DataFrame, list[str]]:
    import fastexcel

    try:
        workbook = fastexcel.read_excel(path)
    except Exception as error:  # fastexcel raises its own types for every kind of damage
        raise InputFileError(
            f"{source}: cannot be opened as an Excel workbook ({_first_line(str(error))})"
        ) from None
    if sheet is not None and sheet not in workbook.sheet_names:
        names = ", ".join(repr(name) for name in workbook.sheet_names)
        raise InputFileError(f"{source}: there is no sheet {sheet!r}; the sheets are {names}")
    try:
        frame = workbook.load_sheet(sheet if sheet is not None else 0, dtypes="string").to_polars()
    except Exception as error:
        raise InputFileError(
            f"{source}: the sheet cannot be read ({_first_line(str(error))})"
        ) from None
    headers = _unique_names([str(name) for name in frame.columns], source)
    return frame.rename(dict(zip(frame.columns, headers, strict=True))), headers


def _read_parquet(path: Path, source: str) -> tuple[pl.DataFrame, list[str]]:
    try:
        frame = pl.read_parquet(path)
    except Exception as error:
        raise InputFileError(
            f"{source}: cannot be read as Parquet ({_first_line(str(error))})"
        ) from None
    cast = []
    for name, dtype in frame.schema.items():
        if dtype.is_nested():
            raise InputFileError(
                f"{source}: column '{name}' holds nested values ({dtype}); flatten it to text"
            )
        if dtype.is_float():
            # 123456.0 -> "123456": integral floats are IDs or codes written by a float column.
            column = pl.col(name)
            as_int = column.cast(pl.Int64, strict=False).cast(pl.String)
            integral = column.is_finite() & (column == column.round(0)) & (column.abs() < 2**53)
            cast.append(pl.when(integral).then(as_int).otherwise(column.cast(pl.String)))
        else:
            cast.append(pl.col(name).cast(pl.String))
    return frame.select(cast), list(frame.columns)


# Words that database and spreadsheet exports write for "no value". Not "NA": that is
# Namibia's country code.
NULL_WORDS = ("null", "n/a", "#n/a", "nan")


def _cell(column: pl.Expr) -> pl.Expr:
    """A cell as validation sees it: stripped; empty, NULL, N/A and NaN become null."""
    stripped = column.str.strip_chars()
    empty = (stripped == "") | stripped.str.to_lowercase().is_in(NULL_WORDS)
    return pl.when(empty).then(None).otherwise(stripped)


def _null_words(frame: pl.DataFrame, headers: list[str]) -> int:
    if not headers:
        return 0
    counts = frame.select(
        pl.sum_horizontal(
            pl.col(h).str.strip_chars().str.to_lowercase().is_in(NULL_WORDS).sum() for h in headers
        )
    )
    return int(counts.item() or 0)


def read_file(
    path: Path, *, name: str, mapping: Mapping[str, str], sheet: str | None
) -> tuple[SourceFile, pl.DataFrame, list[str]]:
    """Read one file; return its description, its cells (file/row added), and warnings."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise InputFileError(f"{name}: no such file; check the path")
    if path.is_dir():
        raise InputFileError(f"{name}: is a folder; give the files inside it (or a glob in a job)")
    warnings: list[str] = []
    if suffix in TEXT_SUFFIXES:
        frame, headers, warnings = _read_text(path, name)
        kind = "text"
    elif suffix in EXCEL_SUFFIXES:
        frame, headers = _read_excel(path, name, sheet)
        kind = "excel"
    elif suffix in PARQUET_SUFFIXES:
        frame, headers = _read_parquet(path, name)
        kind = "parquet"
    else:
        raise InputFileError(f"{name}: unknown file type '{suffix}'; use one of {SUPPORTED}")
    columns = match_columns(headers, mapping=mapping, source=name)
    too_long = [h for h in headers if (frame[h].str.len_chars().max() or 0) > MAX_CELL_CHARS]  # type: ignore[operator]
    if too_long:
        raise InputFileError(
            f"{name}: column '{too_long[0]}' has a cell of more than {MAX_CELL_CHARS:,}"
            " characters; the file is probably damaged"
        )
    frame = frame.with_columns(
        pl.lit(name).alias("file"), pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row")
    )
    content = [h for h in headers if h not in columns.ignored]
    blank = pl.all_horizontal(
        (pl.col(h).is_null() | (pl.col(h).str.strip_chars() == "")) for h in content
    )
    frame = frame.filter(~blank) if content else frame.clear()
    if frame.height == 0:
        raise InputFileError(f"{name}: has a header but no data rows")
    if "orderId" not in columns.fields.values():
        raise InputFileError(
            f"{name}: no orderId column (the columns are {', '.join(headers)});"
            " name one 'orderId' or map it in the job file's [columns]"
        )
    source = SourceFile(
        path=path,
        name=name,
        kind=kind,
        sha256=sha256_of(path),
        headers=tuple(content),
        columns=columns,
        rows=frame.height,
    )
    if columns.unknown:
        unknown = ", ".join(f"'{h}'" for h in columns.unknown)
        warnings.append(f"{name}: column(s) {unknown} are not used; they are kept in the reports")
    return source, frame, warnings


def read_inputs(
    paths: Sequence[Path],
    *,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    names: Sequence[str] | None = None,
) -> InputTable:
    """Read and concatenate `paths`; raise InputFileError for a file that cannot be used."""
    if not paths:
        raise InputFileError("no input file given; name one or more CSV, Excel or Parquet files")
    files, raws, fields, warnings = [], [], [], []
    for position, path in enumerate(paths):
        name = names[position] if names else str(path)
        source, frame, file_warnings = read_file(
            path, name=name, mapping=mapping or {}, sheet=sheet
        )
        files.append(source)
        warnings.extend(file_warnings)
        raws.append(frame.select("file", "row", *source.headers))
        canonical = [
            _cell(pl.col(header)).alias(field) for header, field in source.columns.fields.items()
        ]
        read = frame.select("file", "row", *canonical)
        nulls = _null_words(frame, list(source.columns.fields))
        if nulls:
            warnings.append(
                f"{name}: {nulls} cell(s) say NULL, N/A or NaN; they were read as empty"
            )
        fields.append(read)
    return InputTable(
        files=tuple(files),
        raw=pl.concat(raws, how="diagonal"),
        fields=pl.concat(fields, how="diagonal"),
        warnings=tuple(warnings),
    )
