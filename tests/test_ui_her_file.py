"""Her workbook through the Check step over HTTP: row numbers are Excel's before and
after edits, and "Download the fixed file" is her file with only the edited cells changed."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl

from pipeline.ui.security import HEADER
from tests.conftest import SAMPLE_DATA
from tests.test_ui_steps import grid, ui, upload

__all__ = ["ui"]  # the fixture, shared with the steps' tests

WORKBOOK = SAMPLE_DATA / "Bestellungen_Dezember.xlsx"


async def edit(ui: tuple[str, str, object], name: str, index: int, header: str, value: str) -> Any:
    url, token, client = ui
    assert isinstance(client, aiohttp.ClientSession)
    body = {"index": index, "header": header, "value": value}
    async with client.post(f"{url}/draft/{name}/cell", json=body, headers={HEADER: token}) as got:
        assert got.status == 200, await got.text()
        return await got.json()


async def fixed(ui: tuple[str, str, object], name: str) -> bytes:
    url, _, client = ui
    assert isinstance(client, aiohttp.ClientSession)
    async with client.get(f"{url}/draft/{name}/fixed") as answer:
        assert answer.status == 200
        return await answer.read()


def rows_by_number(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {row["row"]: row for row in rows}


async def test_her_rows_keep_excels_numbers_and_the_fixed_workbook_is_hers(
    ui: tuple[str, str, object], tmp_path: Path
) -> None:
    name = await upload(ui, WORKBOOK.name, WORKBOOK.read_bytes(), action="update")
    before = await grid(ui, name)
    rows = rows_by_number(before["rows"])  # type: ignore[arg-type]
    assert sorted(rows) == list(range(4, 24))  # title, blank, header: data from row 4
    assert rows[10]["code"] == "comment_too_long"
    assert rows[16]["code"] == "invalid_zip"
    await edit(ui, name, rows[10]["index"], "Kommentar", "Bitte beim Nachbarn abgeben")
    answer = await edit(ui, name, rows[16]["index"], "PLZ", "02134")
    assert answer["row"]["row"] == 16
    assert answer["row"]["status"] == "valid"
    after = rows_by_number((await grid(ui, name))["rows"])  # type: ignore[arg-type]
    assert sorted(after) == list(range(4, 24))
    assert after[16]["cells"][3] == "02134"
    assert after[10]["status"] == "valid"

    data = await fixed(ui, name)
    book = openpyxl.load_workbook(io.BytesIO(data))
    mine = openpyxl.load_workbook(WORKBOOK)
    assert book.sheetnames == ["Bestellungen", "Stornierungen"]
    sheet, original = book["Bestellungen"], mine["Bestellungen"]
    assert sheet["A1"].value == "Adressänderungen Dezember 2026"
    assert sheet.auto_filter.ref == original.auto_filter.ref
    assert sheet.row_dimensions[20].hidden
    assert sheet.column_dimensions["H"].width == original.column_dimensions["H"].width
    assert book["Stornierungen"].max_row == 11
    assert sheet["D6"].value == 1067
    assert sheet["D6"].number_format == "00000"
    changed = [
        (cell.coordinate, cell.value)
        for row_new, row_old in zip(sheet.iter_rows(), original.iter_rows(), strict=True)
        for cell, old in zip(row_new, row_old, strict=True)
        if cell.value != old.value
    ]
    assert changed == [("H10", "Bitte beim Nachbarn abgeben"), ("D16", "02134")]


async def test_a_fixed_csv_keeps_its_separator_encoding_and_other_lines(
    ui: tuple[str, str, object],
) -> None:
    text = "orderId;Kommentar;PLZ\r\n4100031;Grüße;01067\r\n4100032;;1010\r\n"
    data = b"\xef\xbb\xbf" + text.encode("utf-8")
    name = await upload(ui, "fixes.csv", data, action="update")
    rows = rows_by_number((await grid(ui, name))["rows"])  # type: ignore[arg-type]
    assert sorted(rows) == [2, 3]
    await edit(ui, name, rows[3]["index"], "Kommentar", "Bitte klingeln")
    got = await fixed(ui, name)
    assert got == b"\xef\xbb\xbf" + text.replace("4100032;;", "4100032;Bitte klingeln;").encode()


async def test_she_leaves_a_column_out_and_skips_the_hidden_row(
    ui: tuple[str, str, object],
) -> None:
    url, token, client = ui
    assert isinstance(client, aiohttp.ClientSession)
    name = await upload(ui, WORKBOOK.name, WORKBOOK.read_bytes(), action="update")
    rows = rows_by_number((await grid(ui, name))["rows"])  # type: ignore[arg-type]
    assert rows[20]["hidden"]
    assert not rows[19]["hidden"]
    async with client.get(f"{url}/draft/{name}/columns") as answer:
        assert '<option value="-">not used</option>' in await answer.text()
    body = {"action": "update", "columns": {"Kommentar": "-"}}
    async with client.post(
        f"{url}/draft/{name}/columns", json=body, headers={HEADER: token}
    ) as answer:
        assert answer.status == 200
    rows = rows_by_number((await grid(ui, name))["rows"])  # type: ignore[arg-type]
    assert rows[10]["status"] == "valid"  # the long comment is not sent
    async with client.get(f"{url}/draft/{name}/check") as answer:
        page = await answer.text()
    assert "--skip-hidden-rows" not in page
    assert 'id="hidden-rows"' in page
    async with client.post(
        f"{url}/draft/{name}/hidden", json={"skip": True}, headers={HEADER: token}
    ) as answer:
        assert answer.status == 200
    rows = rows_by_number((await grid(ui, name))["rows"])  # type: ignore[arg-type]
    assert sorted(rows) == [n for n in range(4, 24) if n != 20]
