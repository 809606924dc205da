"""Read input files (CSV/TSV/TXT, XLSX, Parquet) into one table of text cells
(docs/reference/inputs.md).

Every cell is read as text, each row remembers its file and the row number the
person sees (the line in a text file, Excel's row, the position in Parquet),
and headers are matched onto canonical fields (`pipeline.inputs.columns`).

    table = read_inputs([Path("fixes.csv")], options=ReadOptions(sheet=None))
    table.fields  # file, row, orderId, action, ... (stripped, empty -> null)
    table.raw     # file, row, then every input column as written
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.core.errors import InputFileError
from pipeline.inputs.columns import OWN_COLUMNS, ColumnMap, match_columns
from pipeline.inputs.countries import ISO_ALPHA2, country_from_name
from pipeline.inputs.excel import read_excel
from pipeline.inputs.text import UNNAMED_PREFIX, Grid, read_text, sniff_separator

__all__ = ["InputTable", "ReadOptions", "SourceFile", "read_file", "read_inputs", "sniff_separator"]

TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
EXCEL_SUFFIXES = frozenset({".xlsx"})
PARQUET_SUFFIXES = frozenset({".parquet"})
SUPPORTED = ", ".join(sorted(TEXT_SUFFIXES | EXCEL_SUFFIXES | PARQUET_SUFFIXES))
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
    separator: str | None = None  # a text file's separator: its error file gets it back
    hidden_rows: tuple[int, ...] = ()  # rows hidden (filtered out) in a workbook
    header_row: int | None = None  # the row holding the header (None: Parquet)


@dataclass(frozen=True)
class ReadOptions:
    """How to read the inputs: column mapping, sheet, header row, hidden rows."""

    mapping: Mapping[str, str] = field(default_factory=dict)
    sheet: str | None = None
    header_row: int | None = None  # the row (as the person sees it) holding the header
    skip_hidden_rows: bool = False


@dataclass(frozen=True)
class InputTable:
    """All input rows, concatenated in input order."""

    files: tuple[SourceFile, ...]
    raw: pl.DataFrame  # file, row, then the union of the input's own columns
    fields: pl.DataFrame  # file, row, then canonical fields (stripped text, empty -> null)
    warnings: tuple[str, ...]  # notes ("note: ...") and warnings, in the order met

    @property
    def separator(self) -> str:
        """The separator for the error file: the first text input's, else a comma."""
        return next((f.separator for f in self.files if f.separator), ",")

    @property
    def has_excel(self) -> bool:
        return any(source.kind == "excel" for source in self.files)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


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


def _unnamed_empty(frame: pl.DataFrame, headers: list[str]) -> list[str]:
    """Columns without a header and without a value: a trailing separator, unused cells."""
    return [h for h in headers if h.startswith(UNNAMED_PREFIX) and frame[h].drop_nulls().len() == 0]


def read_file(
    path: Path, *, name: str, options: ReadOptions
) -> tuple[SourceFile, pl.DataFrame, list[str]]:
    """Read one file; return its description, its cells (file/row added), and warnings."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise InputFileError(f"{name}: no such file; check the path")
    if path.is_dir():
        raise InputFileError(f"{name}: is a folder; give the files inside it (or a glob in a job)")
    if suffix in TEXT_SUFFIXES:
        grid = read_text(path, source=name, mapping=options.mapping, header_row=options.header_row)
        kind = "text"
    elif suffix in EXCEL_SUFFIXES:
        grid = read_excel(
            path,
            source=name,
            sheet=options.sheet,
            mapping=options.mapping,
            header_row=options.header_row,
        )
        kind = "excel"
    elif suffix in PARQUET_SUFFIXES:
        frame, headers = _read_parquet(path, name)
        grid = Grid(frame, headers, pl.int_range(1, frame.height + 1, eager=True), None, [])
        kind = "parquet"
    else:
        raise InputFileError(f"{name}: unknown file type '{suffix}'; use one of {SUPPORTED}")
    warnings = list(grid.warnings)
    unused = _unnamed_empty(grid.frame, grid.headers)
    frame = grid.frame.drop(unused)
    headers = [h for h in grid.headers if h not in unused]
    columns = match_columns(headers, mapping=options.mapping, source=name)
    warnings += [f"note: {note}" for note in columns.notes(name)]
    too_long = [h for h in headers if (frame[h].str.len_chars().max() or 0) > MAX_CELL_CHARS]  # type: ignore[operator]
    if too_long:
        raise InputFileError(
            f"{name}: column '{too_long[0]}' has a cell of more than {MAX_CELL_CHARS:,}"
            " characters; the file is probably damaged"
        )
    frame = frame.with_columns(
        pl.lit(name).alias("file"), pl.Series("row", grid.rows, dtype=pl.Int64)
    )
    content = [h for h in headers if h not in columns.ignored]
    blank = pl.all_horizontal(
        (pl.col(h).is_null() | (pl.col(h).str.strip_chars() == "")) for h in content
    )
    frame = frame.filter(~blank) if content else frame.clear()
    hidden = sorted(set(grid.hidden) & set(frame["row"].to_list())) if grid.hidden else []
    if hidden:
        shown = ", ".join(str(n) for n in hidden[:10]) + (" ..." if len(hidden) > 10 else "")
        if options.skip_hidden_rows:
            frame = frame.filter(~pl.col("row").is_in(hidden))
            warnings.append(
                f"{name}: {len(hidden)} hidden (filtered-out) row(s) left out"
                f" (--skip-hidden-rows): {shown}"
            )
        else:
            warnings.append(
                f"{name}: {len(hidden)} row(s) are hidden (filtered out) in the workbook and will"
                f" be sent too: {shown}; pass --skip-hidden-rows to leave them out"
            )
    if frame.height == 0:
        raise InputFileError(f"{name}: has a header but no data rows")
    if columns.order_key is None:
        raise InputFileError(
            f"{name}: no order key column (the columns are {', '.join(headers)});"
            " name one 'orderId' (Quivo's order number), 'Order Number' (the shop's,"
            " e.g. #1001) or 'Reference', or map it in the job file's [columns]; if the"
            " column names are not in the first 20 rows, give their row with --header-row N"
        )
    source = SourceFile(
        path=path,
        name=name,
        kind=kind,
        sha256=sha256_of(path),
        headers=tuple(content),
        columns=columns,
        rows=frame.height,
        separator=grid.separator,
        hidden_rows=tuple(hidden),
        header_row=grid.header_row,
    )
    if strange := [h for h in columns.unknown if h not in OWN_COLUMNS]:
        unknown = ", ".join(f"'{h}'" for h in strange)
        warnings.append(f"{name}: column(s) {unknown} are not used; they are kept in the reports")
    return source, frame, warnings


def _country_names(frame: pl.DataFrame, *, source: str) -> tuple[pl.DataFrame, list[str]]:
    """Country names and `UK` in the country column become ISO codes, one note each."""
    converted: dict[str, str] = {}
    for value in frame["countryIso2"].drop_nulls().unique().to_list():
        if value.upper() in ISO_ALPHA2:
            continue
        code = country_from_name(value)
        if code is not None:
            converted[value] = code
    if not converted:
        return frame, []
    notes = [f"note: {source}: country '{k}' read as {v}" for k, v in sorted(converted.items())]
    column = pl.col("countryIso2")
    return frame.with_columns(column.replace(converted)), notes


def read_inputs(
    paths: Sequence[Path],
    *,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    names: Sequence[str] | None = None,
    options: ReadOptions | None = None,
) -> InputTable:
    """Read and concatenate `paths`; raise InputFileError for a file that cannot be used."""
    if not paths:
        raise InputFileError("no input file given; name one or more CSV, Excel or Parquet files")
    options = options or ReadOptions(mapping=mapping or {}, sheet=sheet)
    files, raws, fields, warnings = [], [], [], []
    for position, path in enumerate(paths):
        name = names[position] if names else str(path)
        source, frame, file_warnings = read_file(path, name=name, options=options)
        files.append(source)
        warnings.extend(file_warnings)
        raws.append(frame.select("file", "row", *source.headers))
        canonical = [
            _cell(pl.col(header)).alias(field) for header, field in source.columns.fields.items()
        ]
        read = frame.select("file", "row", *canonical)
        if "countryIso2" in read.columns:
            read, notes = _country_names(read, source=name)
            warnings.extend(notes)
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
