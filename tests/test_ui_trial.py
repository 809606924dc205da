"""The trial of the browser UI replayed as an operations person in Vienna did it, on a
workbook shaped like hers (sample_data/Bestellungen_Dezember.xlsx: a title and a blank
row above German headers, zips stored as numbers, countries written out, a 300-character
comment, row 20 hidden by a filter, a second sheet "Stornierungen").

Her rows keep Excel's numbers before and after two edits made with the keyboard, the
fixed workbook is hers with two cells changed, the hidden row is left out when she says
so, undo asks first, and axe-core finds no serious or critical violation on any page, in
German and in English. A screenshot of each step in both languages goes to the test's
folder (and to $QUIVO_SCREENSHOTS when set: docs/screenshots is made so).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from pipeline.sandbox import SandboxThread
from tests.conftest import SAMPLE_DATA, env_for, options_for, state_of
from tests.ui_helpers import running_ui

pytestmark = pytest.mark.slow

WORKBOOK = SAMPLE_DATA / "Bestellungen_Dezember.xlsx"
NEW_COMMENT = "Bitte beim Nachbarn abgeben"
OTHER = {"de": "en", "en": "de"}


class Steps:
    """Each step: a screenshot and the accessibility check, in her language and the other."""

    def __init__(self, page: Page, shots: Path) -> None:
        self.page, self.shots, self.axe = page, shots, Axe()
        self.checked: list[str] = []

    def check(self, number: int, name: str, *, lang: str = "de") -> None:
        url = self.page.url.split("?")[0]
        for shown in (OTHER[lang], lang):  # ends in her language, where the trial goes on
            self.page.goto(f"{url}?lang={shown}")
            self.page.wait_for_load_state("networkidle")
            assert self.page.get_attribute("html", "lang") == shown
            self.page.screenshot(path=self.shots / f"{shown}-{number}-{name}.png", full_page=True)
            found = self.axe.run(self.page).response["violations"]
            bad = [
                (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                for v in found
                if v["impact"] in ("serious", "critical")
            ]
            assert bad == [], f"{name} ({shown}): {bad}"
            self.checked.append(f"{shown}-{name}")


def row_numbers(page: Page) -> list[str]:
    return page.locator('.grid-row div[data-column="row"]').all_inner_texts()


def edit_with_keyboard(page: Page, code: str, column: str, key: str, value: str) -> None:
    """Focus the marked cell, open it with `key` (Enter or F2), type, save with Enter."""
    edits = int(page.get_attribute("#grid", "data-edits") or "0")
    page.locator(f'.grid-row[data-code="{code}"] div.bad[data-column="{column}"]').click()
    page.keyboard.press(key)
    box = page.locator(".grid-row input")
    box.fill(value)
    box.press("Enter")
    page.wait_for_selector(f'#grid[data-edits="{edits + 1}"]', state="attached")


def test_her_trial_in_german_and_english(
    browser: Browser, sandbox: SandboxThread, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    runs = tmp_path / "runs"
    with running_ui(runs, options=options_for(sandbox), env=env_for(sandbox)) as (url, token):
        context = browser.new_context(
            viewport={"width": 1280, "height": 900},
            accept_downloads=True,
            locale="de-AT",
            timezone_id="Europe/Vienna",
        )
        page = context.new_page()
        steps = Steps(page, shots)
        page.goto(f"{url}/?token={token}")
        assert page.get_attribute("html", "lang") == "de"  # her browser's language
        steps.check(1, "start")

        page.set_input_files("#files", WORKBOOK)
        page.select_option("#action", "update")
        page.click("#upload-button")
        page.wait_for_url("**/columns")
        assert "nicht verwenden" in page.inner_text("table.columns")
        steps.check(2, "columns")

        page.click("#columns-next")
        page.wait_for_url("**/check")
        page.wait_for_selector(".grid-row.invalid")
        before = row_numbers(page)
        assert before[0] == "4"
        assert "20 (ausgeblendet)" in before
        assert page.locator("#notes").get_attribute("open") is None  # one closed box
        steps.check(3, "check")
        page.wait_for_selector(".grid-row.invalid")
        edit_with_keyboard(page, "comment_too_long", "Kommentar", "Enter", NEW_COMMENT)
        edit_with_keyboard(page, "invalid_zip", "PLZ", "F2", "02134")
        assert row_numbers(page) == before  # her rows keep Excel's numbers
        assert page.inner_text('[data-count="invalid"]') == "0"
        # Arrows move between cells; F2 opens one, Escape leaves it unchanged.
        page.locator('.grid-row[data-position="0"] div[data-column="Ort"]').click()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowRight")
        focused = page.evaluate(
            "[document.activeElement.dataset.column,"
            " document.activeElement.parentElement.dataset.position]"
        )
        assert focused == ["Bundesland", "1"]
        page.keyboard.press("F2")
        page.keyboard.type("Tirol")
        page.keyboard.press("Escape")
        assert page.get_attribute("#grid", "data-edits") == "2"  # nothing saved
        # The editor closes (the grid may still be re-rendering after the last save).
        page.wait_for_function(
            "document.querySelectorAll('.grid-row input').length === 0", timeout=5000
        )

        with page.expect_download() as fixed_download:
            page.click("#download-fixed")
        book = openpyxl.load_workbook(io.BytesIO(Path(fixed_download.value.path()).read_bytes()))
        mine = openpyxl.load_workbook(WORKBOOK)
        assert book.sheetnames == ["Bestellungen", "Stornierungen"]
        sheet = book["Bestellungen"]
        assert sheet["A1"].value == mine["Bestellungen"]["A1"].value  # the title row
        assert sheet.auto_filter.ref == mine["Bestellungen"].auto_filter.ref
        assert sheet.row_dimensions[20].hidden
        assert (sheet["H10"].value, sheet["D16"].value) == (NEW_COMMENT, "02134")

        page.check('#hidden-rows input[value="skip"]')  # she leaves the hidden row out
        page.wait_for_load_state("networkidle")
        page.wait_for_selector('#grid[data-total="19"]')
        assert "20 (ausgeblendet)" not in row_numbers(page)
        steps.check(4, "check-fixed")

        page.wait_for_selector("#to-preview")
        page.click("#to-preview")
        page.wait_for_url("**/preview")
        page.wait_for_selector("#plan", timeout=30_000)
        plan = page.inner_text("#plan")
        assert "Bestellnummer" in plan  # her key beside Quivo's orderId
        rows_planned = page.locator("#plan tbody tr td:first-child").all_inner_texts()
        assert sorted(map(int, rows_planned)) == [n for n in range(4, 24) if n != 20]
        steps.check(5, "preview")

        page.click("#send-button")
        page.wait_for_url("**/send")
        page.wait_for_selector("#progress[data-finished]", timeout=60_000)
        assert page.get_attribute("#progress", "data-finished") == "finished"
        assert page.is_hidden("#stop")  # no Stop once finished
        assert page.is_visible("#to-results")
        steps.check(6, "send")

        page.click("#to-results")
        page.wait_for_selector(".grid-row")
        run_dir = next(p for p in runs.iterdir() if (p / "results.parquet").exists())
        results = pl.read_parquet(run_dir / "results.parquet")
        assert sorted(results["row"].to_list()) == [n for n in range(4, 24) if n != 20]
        fixed = results.filter(pl.col("row").is_in([10, 16]))
        assert fixed["outcome"].to_list() == ["applied", "applied"]
        ten = int(fixed.filter(pl.col("row") == 10)["orderId"][0])
        assert state_of(sandbox).order(ten, touch=False)["comment"] == NEW_COMMENT  # type: ignore[index]
        assert "UTC" not in page.inner_text("h1 time")  # her time zone, not UTC
        assert "--skip-hidden-rows" not in page.content()  # no command-line flag named
        steps.check(7, "results")

        page.click("#undo")
        page.wait_for_url("**/undo")  # undo asks first, showing what it sets back
        assert state_of(sandbox).order(ten, touch=False)["comment"] == NEW_COMMENT  # type: ignore[index]
        assert page.locator("#undo-plan tbody tr").count() > 0
        steps.check(8, "undo")
        page.click("#undo-button")
        page.wait_for_url("**/send")
        page.wait_for_selector("#progress[data-finished]", timeout=60_000)
        page.click("#to-results")
        page.wait_for_selector(".grid-row")
        assert "Rückgängig: Bestellungen_Dezember" in page.inner_text("h1")
        assert state_of(sandbox).order(ten, touch=False)["comment"] != NEW_COMMENT  # type: ignore[index]
        steps.check(9, "undo-results")

        page.goto(f"{url}/runs")
        assert "Rückgängig: Bestellungen_Dezember" in page.inner_text("#history")
        steps.check(10, "history")
        context.close()

    assert len(steps.checked) == 20  # ten pages, each in German and English
    if target := os.environ.get("QUIVO_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        for shot in sorted(shots.iterdir()):
            shutil.copy(shot, Path(target) / shot.name)
