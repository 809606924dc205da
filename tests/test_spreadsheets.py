"""Spreadsheets as people really make them (issue 10): `validate` end to end via the CLI."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import xlsxwriter
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.inputs.read import read_inputs


def validate(tmp_path: Path, *args: str) -> tuple[Any, pl.DataFrame]:
    """`validate` into `out/`, or `out-2/`, ... when called again (--out must be new)."""
    out, number = tmp_path / "out", 2
    while out.exists():
        out, number = tmp_path / f"out-{number}", number + 1
    result = CliRunner().invoke(main, ["validate", *args, "--out", str(out)])
    frame = pl.read_parquet(out / "results.parquet") if result.exit_code < 2 else None
    return result, frame  # type: ignore[return-value]


def test_title_rows_german_headers_and_notes_once(tmp_path: Path) -> None:
    path = tmp_path / "korrekturen.csv"
    path.write_text(
        "Adressänderungen November;;;;;;\n"
        "Stand: 20.11.2026;;;;;;\n"
        "Bestellung;Empfänger;Straße;PLZ;Ort;Land;Phone2\n"
        "4100001;Anna Muster;Hauptstr. 1;01067;Dresden;Deutschland;+49 1\n"
        "4100002;Ben Muster;Ring 2;1010;Wien;Österreich;\n",
        encoding="utf-8",
    )
    result, frame = validate(tmp_path, str(path), "--action", "address")
    assert result.exit_code == 2, result.output  # 'Bestellung' names no key: a clear file error
    assert "no order key column" in result.output
    assert "__UNNAMED__" not in result.output
    path.write_text(path.read_text(encoding="utf-8").replace("Bestellung", "Order ID"))
    result, frame = validate(tmp_path, str(path), "--action", "address")
    assert result.exit_code == 0, result.output
    assert "row(s) 1, 2 above them (a title or notes) were skipped" in result.output
    for note in ("'Empfänger' read as name", "'PLZ' read as zip", "'Ort' read as city"):
        assert result.output.count(note) == 1
    assert "country 'Deutschland' read as DE" in result.output
    assert "'Phone2'" in result.output  # carried as an unknown column, not a near miss
    assert frame["row"].to_list() == [4, 5]  # the lines a person sees
    assert frame["Phone2"].to_list() == ["+49 1", None]


def test_header_row_option_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text("orderId is below\nnote,x\norderId,comment\n4100001,hi\n", encoding="utf-8")
    result, frame = validate(tmp_path, str(path), "--action", "update", "--header-row", "3")
    assert result.exit_code == 0, result.output
    assert frame["row"].to_list() == [4]


def test_sep_hint_is_honoured_and_the_error_file_keeps_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "de.csv"
    path.write_text(
        "sep=;\nBestellnummer;Auftrag;Kommentar\n;update;x\n900.000;cancel;\n123456.0;cancel;\n"
        "4100001²;cancel;\n",
        encoding="utf-8",
    )
    path.write_text(path.read_text().replace("Bestellnummer;Auftrag", "orderId;action"))
    result, frame = validate(tmp_path, str(path))
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert frame["row"].to_list() == [3, 4, 5, 6]
    assert frame["errorCode"].to_list() == [
        "missing_order_id",
        "invalid_order_id",
        None,
        "invalid_order_id",
    ]
    assert "could be 900 or 900000" in frame["error"][1]
    errors = (tmp_path / "out" / "errors.csv").read_text(encoding="utf-8-sig")
    assert errors.splitlines()[0].startswith("orderId;action;Kommentar")
    assert (tmp_path / "out" / "errors.xlsx").exists()
    assert pl.read_csv(tmp_path / "out" / "errors.csv", separator=";").height == 3


def test_every_problem_of_a_row_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "orderId,name,street,city,zip,countryIso2,email\n4100001,,#CLEAR,Boston,2134,US,a@b\n",
        encoding="utf-8",
    )
    result, frame = validate(tmp_path, str(path), "--action", "address")
    assert result.exit_code == 1
    row = frame.row(0, named=True)
    assert row["errorCode"] == "invalid_email"
    assert row["error"] == "; ".join(
        [
            "email 'a@b' is not an email address",
            "#CLEAR in street: an address needs a street; write the new street instead",
            "zip '2134' is not a US ZIP code (5 digits); Excel may have dropped a leading zero:"
            " 02134?",
        ]
    )


@pytest.mark.parametrize(
    "header", ["Phone2", "Email 2", "Company2", "Zip4", "Names", "Order", "Note"]
)
def test_ordinary_extra_columns_are_carried(tmp_path: Path, header: str) -> None:
    path = tmp_path / "extra.csv"
    path.write_text(f"orderId,comment,{header}\n4100001,hi,x\n", encoding="utf-8")
    result, frame = validate(tmp_path, str(path), "--action", "update")
    assert result.exit_code == 0, result.output
    assert frame[header].to_list() == ["x"]


def workbook(path: Path) -> Path:
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Korrekturen")
    zips = book.add_format({"num_format": "00000"})
    day = book.add_format({"num_format": "dd.mm.yyyy"})
    sheet.write(0, 0, "Adressänderungen November")
    sheet.write_row(2, 0, ["Order ID", "Customer Name", "Address", "Postal Code", "City"])
    sheet.write_row(2, 5, ["Country", "Delivery date", "Action"])
    rows = [
        (4100001, "Anna", "Hauptstr. 1", 1067, "Dresden", "DE", dt.date(2026, 12, 1)),
        (4100002, "Ben", "Ring 2", 1010, "Wien", "AT", None),
        (12345678901234567, "Cleo", "Weg 3", 1010, "Wien", "AT", None),
    ]
    for offset, (order, name, street, plz, city, country, when) in enumerate(rows):
        line = 3 + offset
        sheet.write_number(line, 0, order)
        sheet.write_row(line, 1, [name, street])
        sheet.write_number(line, 3, plz, zips if country == "DE" else None)
        sheet.write_row(line, 4, [city, country])
        if when:
            sheet.write_datetime(line, 6, dt.datetime.combine(when, dt.time()), day)
        sheet.write(line, 7, "address")
    sheet.set_row(4, None, None, {"hidden": True})
    book.close()
    return path


def test_workbook_rows_as_excel_shows_them(tmp_path: Path) -> None:
    path = workbook(tmp_path / "fixes.xlsx")
    result, frame = validate(tmp_path, str(path))
    assert result.exit_code == 1, result.output
    assert "1 row(s) are hidden (filtered out) in the workbook and will be sent too: 5" in (
        result.output
    )
    assert frame["row"].to_list() == [4, 5, 6]  # Excel's row numbers
    assert frame["Postal Code"].to_list() == ["01067", "1010", "1010"]  # as displayed
    assert frame["Delivery date"].to_list() == ["01.12.2026", None, None]
    assert frame["outcome"].to_list() == ["dry_run", "dry_run", "invalid"]
    assert "scientific notation" in frame["error"][2]  # 17 digits: refused, never rounded
    with (tmp_path / "out" / "errors.csv").open(encoding="utf-8-sig", newline="") as stream:
        assert [r["Order ID"] for r in csv.DictReader(stream)] == ["1.234567890123457E16"]
    skipped, frame = validate(tmp_path, str(path), "--skip-hidden-rows")
    assert frame["row"].to_list() == [4, 6]
    assert "left out (--skip-hidden-rows): 5" in skipped.output


def test_errors_xlsx_keeps_text_as_text_and_validate_writes_only_rows_to_fix(
    tmp_path: Path,
) -> None:
    path = tmp_path / "text.csv"
    path.write_text(
        "orderId,action,comment,zip\n4100001,update,=1+2,01010\n4100002,update,,\n",
        encoding="utf-8",
    )
    result, _ = validate(tmp_path, str(path))
    assert result.exit_code == 1
    errors = read_inputs([tmp_path / "out" / "errors.xlsx"]).raw
    assert errors["orderId"].to_list() == ["4100002"]  # the valid row is not in it
    only_csv = read_inputs([tmp_path / "out" / "errors.csv"]).raw
    assert only_csv["orderId"].to_list() == ["4100002"]


def test_the_demo_runs_the_shop_workbook_and_shows_its_hints(tmp_path: Path) -> None:
    from pipeline.cli.demo import run_demo

    lines: list[str] = []
    results = list(run_demo(out_root=tmp_path / "demo", echo=lines.append))
    shop = results[-1]
    assert shop.run_dir.name == "4-shop-orders"
    assert list(shop.results.select("row", "outcome", "errorCode").iter_rows()) == [
        (5, "applied", None),
        (6, "applied", None),
        (7, "invalid", "invalid_zip"),
        (8, "invalid", "order_not_found"),
        (9, "applied", None),
        (10, "failed", "status_conflict"),
        (11, "applied", None),
    ]
    assert shop.results["PLZ"][0] == "01067"  # shown through the 00000 format
    assert shop.results["Lieferdatum"][0] == "01.12.2026"
    assert all(isinstance(o, int) for o in shop.results["orderId"].drop_nulls())
    text = "\n".join(lines)
    assert "Excel may have dropped a leading zero: 02134?" in text
    assert "no order has orderIdentifier '#99999'" in text
    warnings = "\n".join(shop.warnings)
    assert "'Bestellnummer' read as orderIdentifier" in warnings
    assert "will be sent too: 9" in warnings


def test_a_header_further_down_needs_header_row(tmp_path: Path) -> None:
    path = tmp_path / "long-notes.csv"
    path.write_text("".join(f"note {n}\n" for n in range(25)) + "orderId\n4100001\n")
    result, _ = validate(tmp_path, str(path), "--action", "cancel")
    assert result.exit_code == 2
    assert "give their row with --header-row N" in result.output
    result, frame = validate(tmp_path, str(path), "--action", "cancel", "--header-row", "26")
    assert result.exit_code == 0, result.output
    assert frame["row"].to_list() == [27]


def test_a_column_without_header_is_named_where_a_person_finds_it(tmp_path: Path) -> None:
    path = tmp_path / "unnamed.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["orderId", "comment"])
    sheet.write_row(1, 0, [4100001, "hi", "loose note"])
    book.close()
    result, frame = validate(tmp_path, str(path), "--action", "update")
    assert result.exit_code == 0, result.output
    assert "'(no header) column C' are not used" in result.output
    assert "UNNAMED" not in result.output
    assert frame["(no header) column C"].to_list() == ["loose note"]
