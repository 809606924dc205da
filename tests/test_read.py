"""Reading inputs: every cell as text, rows numbered, files that cannot be used named."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from pipeline.core.errors import InputFileError
from pipeline.inputs.read import read_inputs, sniff_separator
from tests.conftest import SAMPLE_DATA


def write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def test_bom_semicolon_csv_keeps_leading_zeros_and_matches_headers() -> None:
    table = read_inputs([SAMPLE_DATA / "address-corrections.csv"])
    assert table.files[0].headers[0] == "Order ID"  # the BOM is not part of the header
    assert table.fields["zip"][0] == "02134"
    assert table.fields["countryIso2"][1] == "de"
    assert table.fields["row"].to_list() == list(range(2, 18))  # line numbers, header = 1
    assert table.raw.columns[:3] == ["file", "row", "Order ID"]
    assert any("'Note'" in w for w in table.warnings)


@pytest.mark.parametrize(
    ("line", "suffix", "separator"),
    [
        ("a,b,c", ".csv", ","),
        ("a;b;c", ".csv", ";"),
        ("a\tb", ".txt", "\t"),
        ("a", ".tsv", "\t"),
        ("a", ".csv", ","),
        ("a;b,c;d", ".csv", ";"),
    ],
)
def test_sniff_separator(line: str, suffix: str, separator: str) -> None:
    assert sniff_separator(line, suffix=suffix) == separator


def test_cp1252_files_are_read_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "old.csv", "orderId;city\n1;Wien\n2;Gänserndorf\n".encode("cp1252"))
    table = read_inputs([path])
    assert table.fields["city"].to_list() == ["Wien", "Gänserndorf"]
    assert any("not UTF-8" in w for w in table.warnings)


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "u16.csv", "orderId,city\n1,Zürich\n".encode("utf-16"))
    assert read_inputs([path]).fields["city"].to_list() == ["Zürich"]


def test_blank_lines_are_skipped_and_rows_keep_their_numbers(tmp_path: Path) -> None:
    path = write(tmp_path / "gaps.csv", "orderId,comment\n1,a\n\n3,c\n ,  \n")
    table = read_inputs([path])
    assert table.fields["row"].to_list() == [2, 4]  # the lines they are on


def test_cells_are_stripped_and_empty_cells_are_null(tmp_path: Path) -> None:
    path = write(tmp_path / "pad.csv", "orderId,comment\n 7 ,  \n")
    table = read_inputs([path])
    assert table.fields.row(0, named=True) | {"file": None} == {
        "file": None,
        "row": 2,
        "orderId": "7",
        "comment": None,
    }
    assert table.raw["comment"].to_list() == ["  "]  # the raw cell is kept as written


def test_guarded_cells_are_unguarded_on_input(tmp_path: Path) -> None:
    path = write(tmp_path / "guarded.csv", "orderId,phone\n1,'+43 1\n2,'plain\n")
    assert read_inputs([path]).fields["phone"].to_list() == ["+43 1", "'plain"]


def test_excel_first_sheet_by_default_and_sheet_by_name(tmp_path: Path) -> None:
    path = tmp_path / "two.xlsx"
    book = xlsxwriter.Workbook(path)
    first, second = book.add_worksheet("A"), book.add_worksheet("B")
    first.write_row(0, 0, ["Order ID", "zip"])
    first.write_row(1, 0, [4100001, "02134"])
    second.write_row(0, 0, ["orderId", "comment"])
    second.write_row(1, 0, [4100002, "from B"])
    book.close()
    assert read_inputs([path]).fields["orderId"].to_list() == ["4100001"]
    assert read_inputs([path]).fields["zip"].to_list() == ["02134"]
    assert read_inputs([path], sheet="B").fields["comment"].to_list() == ["from B"]
    with pytest.raises(InputFileError, match="there is no sheet 'C'; the sheets are 'A', 'B'"):
        read_inputs([path], sheet="C")


def test_parquet_numbers_become_text(tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    pl.DataFrame({"orderId": [4100001, 4100002], "zip": [1010.0, 8010.5]}).write_parquet(path)
    fields = read_inputs([path]).fields
    assert fields["orderId"].to_list() == ["4100001", "4100002"]
    assert fields["zip"].to_list() == ["1010", "8010.5"]


def test_several_inputs_concatenate_and_remember_their_file(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "orderId,comment\n1,x\n")
    b = write(tmp_path / "b.csv", "order_id;Note\n2;y\n3;z\n")
    table = read_inputs([a, b], names=["a.csv", "b.csv"])
    assert table.fields["file"].to_list() == ["a.csv", "b.csv", "b.csv"]
    assert table.fields["row"].to_list() == [2, 2, 3]
    assert table.raw.columns == ["file", "row", "orderId", "comment", "order_id", "Note"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "the file is empty"),
        ("blank.csv", "\n\n  \n", "the file is empty"),
        ("header.csv", "orderId,comment\n", "has a header but no data rows"),
        ("noid.csv", "Kunde,comment\n1,x\n", "no order key column"),
        ("dup.csv", "orderId,comment,comment\n1,x,y\n", "the column 'comment' appears twice"),
        ("twoids.csv", "Order ID,order_id\n1,2\n", "both mean orderId"),
        ("ragged.csv", "orderId,comment\n1,x\n2,y,z\n", "row 3 has more cells than the header"),
        ("quote.csv", 'orderId,comment\n1,"open\n2,x\n', "quoted cell is never closed"),
        ("nul.csv", "orderId,comment\n1,a\x00b\n", "contains NUL bytes"),
        ("typo.csv", "orderId,stret\n1,x\n", "'stret' looks like 'street'"),
        ("data.json", "{}", "unknown file type '.json'"),
    ],
)
def test_files_that_cannot_be_used_are_named_with_what_to_do(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(InputFileError, match=message) as caught:
        read_inputs([path], names=[name])
    assert str(caught.value).startswith(name)
    assert "\n" not in str(caught.value)


def test_missing_file_and_xlsx_disguised_as_csv(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_inputs([tmp_path / "gone.csv"])
    disguised = write(tmp_path / "book.csv", (SAMPLE_DATA / "mixed-changes.xlsx").read_bytes())
    with pytest.raises(InputFileError, match=r"Excel workbook, not a text file; rename it to \."):
        read_inputs([disguised])
    broken = write(tmp_path / "broken.xlsx", b"PK\x03\x04 this is not a workbook")
    with pytest.raises(InputFileError, match="cannot be opened as an Excel workbook"):
        read_inputs([broken])
