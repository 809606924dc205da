"""The Start and Columns steps over HTTP: a sheet picked, a header read as another field."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import polars as pl
import pytest
import xlsxwriter

from pipeline.sandbox import SandboxThread
from pipeline.ui.security import HEADER
from tests.conftest import env_for, options_for
from tests.ui_helpers import running_ui


@pytest.fixture
async def ui(sandbox: SandboxThread, tmp_path: Path) -> AsyncIterator[tuple[str, str, object]]:
    with running_ui(tmp_path / "runs", options=options_for(sandbox), env=env_for(sandbox)) as (
        url,
        token,
    ):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
            async with client.get(f"{url}/?token={token}") as answer:
                assert answer.status == 200
            yield url, token, client


async def upload(ui: tuple[str, str, object], name: str, data: bytes, **fields: str) -> str:
    url, token, client = ui
    assert isinstance(client, aiohttp.ClientSession)
    form = aiohttp.FormData()
    form.add_field("files", data, filename=name)
    for key, value in fields.items():
        form.add_field(key, value)
    async with client.post(f"{url}/upload", data=form, headers={HEADER: token}) as answer:
        assert answer.status == 200, await answer.text()
        return str((await answer.json())["next"]).split("/")[2]


async def grid(ui: tuple[str, str, object], name: str) -> dict[str, object]:
    url, _, client = ui
    assert isinstance(client, aiohttp.ClientSession)
    async with client.get(f"{url}/draft/{name}/rows?limit=100") as answer:
        result: dict[str, object] = await answer.json()
        return result


async def save_columns(ui: tuple[str, str, object], name: str, body: dict[str, object]) -> int:
    url, token, client = ui
    assert isinstance(client, aiohttp.ClientSession)
    async with client.post(
        f"{url}/draft/{name}/columns", json=body, headers={HEADER: token}
    ) as answer:
        return answer.status


def two_sheets(path: Path) -> bytes:
    with xlsxwriter.Workbook(path) as book:
        pl.DataFrame({"orderId": ["4100031"], "comment": ["first sheet"]}).write_excel(
            workbook=book, worksheet="Notes"
        )
        pl.DataFrame(
            {"orderId": ["4100032", "4100033"], "comment": ["second", "sheet"]}
        ).write_excel(workbook=book, worksheet="Fixes")
    return path.read_bytes()


async def test_the_sheet_picker_reads_the_chosen_sheet(
    ui: tuple[str, str, object], tmp_path: Path
) -> None:
    url, _, client = ui
    assert isinstance(client, aiohttp.ClientSession)
    data = await asyncio.to_thread(two_sheets, tmp_path / "book.xlsx")
    name = await upload(ui, "book.xlsx", data, action="update")
    async with client.get(f"{url}/draft/{name}/columns") as answer:
        page = await answer.text()
    assert '<option value="Notes"' in page
    assert '<option value="Fixes"' in page
    assert (await grid(ui, name))["total"] == 1
    assert await save_columns(ui, name, {"action": "update", "sheet": "Fixes"}) == 200
    rows = await grid(ui, name)
    assert rows["total"] == 2
    assert [r["cells"] for r in rows["rows"]] == [["4100032", "second"], ["4100033", "sheet"]]  # type: ignore[attr-defined, index]


async def test_a_header_read_as_another_field(ui: tuple[str, str, object]) -> None:
    url, _, client = ui
    assert isinstance(client, aiohttp.ClientSession)
    data = b"orderId,Bemerkung\n4100031,Bitte klingeln\n"
    name = await upload(ui, "notes.csv", data, action="update")
    async with client.get(f"{url}/draft/{name}/columns") as answer:
        page = await answer.text()
    assert "Bemerkung" in page
    assert "not used" in page
    before = await grid(ui, name)
    assert before["rows"][0]["code"] == "nothing_to_change"  # type: ignore[index]
    refused = await save_columns(ui, name, {"columns": {"Bemerkung": "../../etc"}})
    assert refused == 400
    ok = await save_columns(ui, name, {"action": "update", "columns": {"Bemerkung": "comment"}})
    assert ok == 200
    after = await grid(ui, name)
    assert after["rows"][0]["status"] == "valid"  # type: ignore[index]
    async with client.get(f"{url}/draft/{name}/columns") as answer:
        assert '<option value="comment" selected>' in await answer.text()


async def test_unusable_uploads_get_a_message_that_says_what_to_do(
    ui: tuple[str, str, object],
) -> None:
    url, token, client = ui
    assert isinstance(client, aiohttp.ClientSession)
    form = aiohttp.FormData()
    form.add_field("files", b"PK\x03\x04 not a sheet", filename="orders.docx")
    async with client.post(f"{url}/upload", data=form, headers={HEADER: token}) as answer:
        assert answer.status == 400
        message = (await answer.json())["error"]
    assert message.startswith("orders.docx: not a file type quivo-bulk reads; use .csv")
    for name, data, reason in [
        ("broken.xlsx", b"not a workbook", "broken.xlsx: cannot be opened as an Excel workbook"),
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("header.csv", b"orderId,comment\n", "header.csv: has a header but no data rows"),
    ]:
        form = aiohttp.FormData()
        form.add_field("files", data, filename=name)
        async with client.post(f"{url}/upload", data=form, headers={HEADER: token}) as answer:
            assert answer.status == 400
            assert (await answer.json())["error"].startswith(reason)
    async with client.get(f"{url}/runs") as answer:
        assert "empty" not in await answer.text()  # a refused upload leaves no draft


@pytest.mark.parametrize(
    ("rate_per_s", "auto", "shown"),
    [
        (5.0, False, "at most 5/s"),
        (2.5, False, "at most 2.5/s"),
        (None, False, "unpaced"),
        (100.0, True, "auto, at most 100/s"),
    ],
)
def test_the_send_page_names_the_pacing(rate_per_s: float | None, auto: bool, shown: str) -> None:
    from pipeline.ui.run_views import rate_label

    assert rate_label(rate_per_s=rate_per_s, auto=auto) == shown


async def test_a_file_without_an_action_column_is_told_in_her_words(
    ui: tuple[str, str, object],
) -> None:
    """Uploaded with "as the file's action column says" and no such column, the Columns
    page said `no --action ... (job key action)`: words of the command line, in English,
    on a German page. It says what to choose in this form, in her language."""
    url, _, client = ui
    assert isinstance(client, aiohttp.ClientSession)
    name = await upload(ui, "liste.csv", b"orderId,comment\n4100031,bitte klingeln\n")
    async with client.get(f"{url}/draft/{name}/columns?lang=de") as answer:
        page = await answer.text()
    assert "Ihre Datei hat keine Aktionsspalte: Wählen Sie oben" in page
    assert "--action" not in page
    async with client.get(f"{url}/draft/{name}/columns?lang=en") as answer:
        assert "Your file has no action column: choose above" in await answer.text()
