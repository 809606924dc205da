"""The whole UI flow in a real headless Chromium (the system's package) against the sandbox.

Upload the dirty sample workbook, fix two cells in the grid, preview, confirm
the cancels by typing their count, watch the run finish, download errors.xlsx
and check its rows, undo. A screenshot of each step goes to the test's tmp folder.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from playwright.sync_api import Browser, Page

from pipeline.core.outcomes import SUCCESS
from pipeline.sandbox import SandboxThread
from tests.conftest import SAMPLE_DATA, env_for, options_for, state_of
from tests.ui_helpers import running_ui

pytestmark = pytest.mark.slow

NEW_COMMENT = "Fixed in the browser"


def fix_cell(page: Page, code: str, column: str, value: str) -> None:
    """Double-click the `column` cell of the row failing with `code`, type `value`, Enter.

    The cell must be marked as the problem; the test waits for the recheck's answer.
    """
    edits_before = page.locator("#grid").get_attribute("data-edits") or "0"
    cell = page.locator(f'.grid-row[data-code="{code}"] div.bad[data-column="{column}"]')
    assert cell.count() == 1
    cell.dblclick()
    box = page.locator(".grid-row input")
    box.fill(value)
    box.press("Enter")
    page.wait_for_selector(
        f'#grid[data-edits="{int(edits_before) + 1}"]', state="attached", timeout=5000
    )


def test_upload_fix_preview_send_results(
    browser: Browser, sandbox: SandboxThread, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    runs = tmp_path / "runs"
    with running_ui(runs, options=options_for(sandbox), env=env_for(sandbox)) as (url, token):
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, accept_downloads=True
        )
        page = context.new_page()
        page.goto(f"{url}/?token={token}")
        assert "token" not in page.url  # moved into the cookie
        page.screenshot(path=shots / "1-start.png")

        page.set_input_files("#files", SAMPLE_DATA / "mixed-changes.xlsx")
        page.click("#upload-button")
        page.wait_for_url("**/columns")
        assert page.locator("table.columns").inner_text().count("customAttributes") >= 1
        page.screenshot(path=shots / "2-columns.png")

        page.click("#columns-next")
        page.wait_for_url("**/check")
        page.wait_for_selector(".grid-row.invalid")
        invalid_before = int(page.inner_text('[data-count="invalid"]'))
        commented = int(
            page.inner_text('.grid-row[data-code="comment_too_long"] div[data-column="orderId"]')
        )
        comment_before = state_of(sandbox).order(commented, touch=False)["comment"]  # type: ignore[index]
        page.screenshot(path=shots / "3-check.png")

        fix_cell(page, "invalid_boolean", "trackingEnabled", "yes")
        fix_cell(page, "comment_too_long", "comment", NEW_COMMENT)
        assert int(page.inner_text('[data-count="invalid"]')) == invalid_before - 2
        page.check("#errors-only")
        page.wait_for_selector(f'#grid[data-total="{invalid_before - 2}"]')
        assert page.locator(".grid-row.valid").count() == 0
        page.screenshot(path=shots / "4-check-fixed.png")
        with page.expect_download() as fixed_download:
            page.click("#download-fixed")
        fixed_path = tmp_path / "fixed.xlsx"
        fixed_download.value.save_as(fixed_path)

        page.click("#to-preview")
        page.wait_for_url("**/preview")
        plan_text = page.inner_text("#plan")
        assert f"-> {NEW_COMMENT}" in plan_text  # old -> new, the old value read from the order
        assert "will fail" in plan_text or "needs fixing" in plan_text
        cancels = page.get_attribute("#send", "data-cancels")
        assert cancels is not None
        assert int(cancels) > 0
        page.screenshot(path=shots / "5-preview.png")
        page.fill("#confirm", str(int(cancels) + 1))  # the wrong count is refused
        page.click("#send-button")
        page.wait_for_selector("#message:not([hidden])")
        assert "type the number" in page.inner_text("#message")
        page.fill("#confirm", cancels)
        page.click("#send-button")

        page.wait_for_url("**/send")
        assert page.inner_text("#limit") == "pace: at most 500/s"  # the test's options
        page.wait_for_selector("#progress[data-finished]", timeout=60_000)
        assert page.get_attribute("#progress", "data-finished") == "finished"
        page.screenshot(path=shots / "6-send.png")

        page.click("#to-results")
        page.wait_for_selector("#download-errors-xlsx")
        page.wait_for_selector(".grid-row")
        page.screenshot(path=shots / "7-results.png")
        with page.expect_download() as download_info:
            page.click("#download-errors-xlsx")
        errors_path = tmp_path / "errors.xlsx"
        download_info.value.save_as(errors_path)
        (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
        results = pl.read_parquet(run_dir / "results.parquet")  # read before the undo

        page.click("#undo")
        page.wait_for_url("**/undo")  # what it sets back, to confirm
        page.click("#undo-button")
        page.wait_for_url("**/send")
        page.wait_for_selector("#progress[data-finished]", timeout=60_000)
        assert page.get_attribute("#progress", "data-finished") == "finished"
        page.click("#to-results")
        page.wait_for_selector(".grid-row")
        assert "undo-" in page.url
        page.screenshot(path=shots / "8-undo.png")

        page.goto(f"{url}/runs")
        history = page.inner_text("#history")
        assert run_dir.name in history
        assert f"undo-{run_dir.name}" in history
        page.screenshot(path=shots / "9-history.png")
        context.close()

    left = results.filter(~pl.col("outcome").is_in([o.value for o in SUCCESS]))
    errors = pl.read_excel(errors_path, infer_schema_length=0)
    assert errors["orderId"].cast(pl.Int64).to_list() == left["orderId"].to_list()
    assert errors["errorCode"].to_list() == left["errorCode"].to_list()
    assert "maybe" not in errors["trackingEnabled"].to_list()
    fixed_file = pl.read_excel(fixed_path, infer_schema_length=0)
    original = pl.read_excel(SAMPLE_DATA / "mixed-changes.xlsx", infer_schema_length=0)
    assert fixed_file.height == original.height
    assert fixed_file["comment"].to_list().count(NEW_COMMENT) == 1
    assert "maybe" not in fixed_file["trackingEnabled"].to_list()
    changed = sum(
        a != b
        for column in original.columns
        for a, b in zip(original[column], fixed_file[column], strict=True)
    )
    assert changed == 2  # the two cells fixed in the grid, nothing else
    fixed = results.filter(pl.col("comment") == NEW_COMMENT)
    assert fixed["outcome"].to_list() == ["applied"]
    assert fixed["orderId"].to_list() == [commented]
    order = state_of(sandbox).order(commented, touch=False)
    assert order is not None
    assert order["comment"] == comment_before  # undone
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-start.png",
        "2-columns.png",
        "3-check.png",
        "4-check-fixed.png",
        "5-preview.png",
        "6-send.png",
        "7-results.png",
        "8-undo.png",
        "9-history.png",
    ]
