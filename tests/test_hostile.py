"""Hostile input: every file of tests/corpus/ (expected.toml) and generated binary ones.

Each input either is refused as a whole (exit 2, a message naming the problem) or
gives each row a specific outcome and error code. Nothing is lost: every row of a
usable file appears in the reports exactly once.
"""

from __future__ import annotations

import csv
import datetime as dt
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import xlsxwriter

from pipeline.config.settings import RunOptions
from pipeline.core.errors import InputFileError
from pipeline.flows.run import validate_files
from tests.conftest import SAMPLE_DATA

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((CORPUS / "expected.toml").read_text())


def shown(outcome: str, code: str | None) -> str:
    return f"{outcome}:{code}" if outcome == "invalid" else outcome


def check(path: Path, expected: dict[str, Any], out: Path) -> None:
    options = RunOptions(action=expected.get("action"))
    if "error" in expected:
        with pytest.raises(InputFileError) as caught:
            validate_files([path], options=options, out=out)
        message = str(caught.value)
        assert expected["error"] in message
        assert "\n" not in message
        assert not out.exists()  # nothing is written for a file that cannot be used
        return
    result = validate_files([path], options=options, out=out)
    rows = result.results.select("outcome", "errorCode").iter_rows()
    assert [shown(o, c) for o, c in rows] == expected["rows"]
    assert result.results["row"].n_unique() == result.results.height
    if "warning" in expected:
        assert any(expected["warning"] in w for w in result.warnings), result.warnings


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name: str, tmp_path: Path) -> None:
    check(CORPUS / name, EXPECTED[name], tmp_path / "out")


def test_every_corpus_file_has_an_expectation() -> None:
    files = {p.name for p in CORPUS.iterdir()} - {"expected.toml"}
    assert files == set(EXPECTED)


def test_text_survives_the_reports_exactly(tmp_path: Path) -> None:
    """RTL, emoji and formula-like text come back from results.csv exactly as they went in."""
    for name in ("rtl-emoji-names.csv", "formula-text.csv"):
        out = tmp_path / name
        validate_files([CORPUS / name], options=RunOptions(action="update"), out=out)
        written = pl.read_parquet(out / "results.parquet")
        from pipeline.inputs.csvsafe import unguard_frame

        back = unguard_frame(pl.read_csv(out / "results.csv", infer_schema=False))
        for column in [c for c in written.columns[13:] if c != "decidedAt"]:
            assert back[column].to_list() == written[column].to_list()
    with (tmp_path / "formula-text.csv" / "results.csv").open(encoding="utf-8-sig") as stream:
        cells = [row["comment"] for row in csv.DictReader(stream)]
    assert cells == ['\'=HYPERLINK("http://x")', "'=SUM(A1)", "'@cmd"]


# --- generated (binary or huge) inputs -------------------------------------------------


def huge_cell(path: Path) -> Path:
    path = path / "huge-cell.csv"
    with path.open("w") as stream:
        stream.write("orderId,comment\n4100001,")
        stream.write("x" * (30 << 20))
        stream.write("\n")
    return path


def xlsx_as_csv(path: Path) -> Path:
    target = path / "book.csv"
    target.write_bytes((SAMPLE_DATA / "mixed-changes.xlsx").read_bytes())
    return target


def corrupt_xlsx(path: Path) -> Path:
    target = path / "corrupt.xlsx"
    target.write_bytes((SAMPLE_DATA / "mixed-changes.xlsx").read_bytes()[:1500])
    return target


def workbook(path: Path, build: Callable[[Any, Any], None], name: str = "book.xlsx") -> Path:
    target = path / name
    book = xlsxwriter.Workbook(target)
    sheet = book.add_worksheet("Data")
    build(book, sheet)
    book.close()
    return target


def formulas(path: Path) -> Path:
    def build(book: Any, sheet: Any) -> None:
        sheet.write_row(0, 0, ["orderId", "action", "comment"])
        sheet.write_formula(1, 0, "=4100000+1", None, 4100001)
        sheet.write_string(1, 1, "update")
        sheet.write_formula(1, 2, '="ring "&"twice"', None, "ring twice")

    return workbook(path, build)


def merged_header(path: Path) -> Path:
    def build(book: Any, sheet: Any) -> None:
        sheet.write_string(0, 0, "orderId")
        sheet.merge_range(0, 1, 0, 2, "Adress")
        sheet.write_row(1, 0, [4100001, "Main 1", "Wien"])

    return workbook(path, build)


def date_as_id(path: Path) -> Path:
    def build(book: Any, sheet: Any) -> None:
        sheet.write_row(0, 0, ["orderId", "action"])
        sheet.write_datetime(
            1, 0, dt.datetime(2026, 11, 24), book.add_format({"num_format": "yyyy-mm-dd"})
        )
        sheet.write_string(1, 1, "cancel")
        sheet.write_number(2, 0, 4100001)
        sheet.write_string(2, 1, "cancel")

    return workbook(path, build)


def extra_sheet(path: Path) -> Path:
    def build(book: Any, sheet: Any) -> None:
        sheet.write_row(0, 0, ["orderId", "action"])
        sheet.write_row(1, 0, [4100001, "cancel"])
        other = book.add_worksheet("Ignored")
        other.write_row(0, 0, ["orderId", "action"])
        other.write_row(1, 0, [4100002, "cancel"])
        other.write_row(2, 0, [4100003, "cancel"])

    return workbook(path, build)


def typed_parquet(path: Path) -> Path:
    target = path / "typed.parquet"
    pl.DataFrame(
        {
            "orderId": [4100001, 4100002],
            "action": ["address", "address"],
            "name": ["Ada", "Bob"],
            "street": ["Main 1", "Main 2"],
            "city": ["Wien", "Graz"],
            "zip": [1010.0, 8010.0],
            "countryIso2": ["AT", "AT"],
        }
    ).write_parquet(target)
    return target


def nested_parquet(path: Path) -> Path:
    target = path / "nested.parquet"
    pl.DataFrame({"orderId": [1], "tags": [["a", "b"]]}).write_parquet(target)
    return target


def folder(path: Path) -> Path:
    target = path / "inbox"
    target.mkdir()
    return target


GENERATED: list[tuple[Callable[[Path], Path], dict[str, Any]]] = [
    (huge_cell, {"error": "has a cell of more than 100,000 characters"}),
    (xlsx_as_csv, {"error": "this is an Excel workbook, not a text file; rename it to .xlsx"}),
    (corrupt_xlsx, {"error": "cannot be opened as an Excel workbook"}),
    (formulas, {"rows": ["dry_run"]}),
    (merged_header, {"error": "unknown column 'Adress' looks like 'street'"}),
    (date_as_id, {"rows": ["invalid:invalid_order_id", "dry_run"]}),
    (extra_sheet, {"rows": ["dry_run"]}),
    (typed_parquet, {"rows": ["dry_run", "dry_run"]}),
    (nested_parquet, {"error": "holds nested values"}),
    (folder, {"error": "is a folder"}),
]


@pytest.mark.parametrize(("make", "expected"), GENERATED, ids=[m.__name__ for m, _ in GENERATED])
def test_generated_input(
    make: Callable[[Path], Path], expected: dict[str, Any], tmp_path: Path
) -> None:
    check(make(tmp_path), expected, tmp_path / "out")


def test_formula_cells_give_their_values_and_parquet_floats_their_digits(tmp_path: Path) -> None:
    from pipeline.inputs.read import read_inputs

    assert read_inputs([formulas(tmp_path)]).fields.row(0, named=True) | {"file": ""} == {
        "file": "", "row": 2, "orderId": "4100001", "action": "update", "comment": "ring twice"
    }  # fmt: skip
    assert read_inputs([typed_parquet(tmp_path)]).fields["zip"].to_list() == ["1010", "8010"]


def test_the_corpus_has_at_least_forty_inputs() -> None:
    assert len(EXPECTED) + len(GENERATED) >= 40
