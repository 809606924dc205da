"""Buttons only where they apply, and none of them answers 500, on runs the CLI made:
rerun with nothing to rerun says so, undo asks first and is offered once, drafts go."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxThread
from pipeline.ui.security import HEADER
from tests.conftest import env_for, options_for, order_ids
from tests.test_ui_runs import client_for, events_until
from tests.ui_helpers import running_ui

__all__ = ["client_for"]  # the fixture


async def cli_run(sandbox: SandboxThread, runs: Path, name: str, text: str) -> Path:
    path = runs.parent / f"{name}.csv"
    path.write_text(text)
    await asyncio.to_thread(
        lambda: run_files(
            [path], options=options_for(sandbox), env=env_for(sandbox), out=runs / name
        )
    )
    return runs / name


async def page(client: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with client.get(url) as answer:
        return answer.status, await answer.text()


async def press(client: aiohttp.ClientSession, url: str, token: str) -> tuple[int, Any]:
    async with client.post(url, json={}, headers={HEADER: token}) as answer:
        return answer.status, await answer.json()


async def test_buttons_apply_only_where_they_can_and_none_fails(
    sandbox: SandboxThread, tmp_path: Path, client_for: Any
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    completed = order_ids(sandbox, "COMPLETED", 2)
    processing = order_ids(sandbox, "PROCESSING", 4)
    permanent = "orderId,action,comment\n" + "".join(f"{i},update,late\n" for i in completed)
    cancels = "orderId,action\n" + "".join(f"{i},cancel\n" for i in processing[:2])
    updates = "orderId,action,comment\n" + "".join(f"{i},update,undo me\n" for i in processing[2:])
    await cli_run(sandbox, runs, "permanent", permanent)
    await cli_run(sandbox, runs, "cancels", cancels)
    await cli_run(sandbox, runs, "updates", updates)
    with running_ui(runs, options=options_for(sandbox), env=env_for(sandbox)) as (url, token):
        client = await client_for(url, token)

        # Every failure permanent: nothing to rerun, said on the page and by the button.
        status, text = await page(client, f"{url}/run/permanent")
        assert status == 200
        assert 'id="nothing-to-rerun"' in text
        assert 'id="rerun"' not in text
        status, answer = await press(client, f"{url}/run/permanent/rerun", token)
        assert status == 400
        assert answer["error"].startswith("nothing to rerun")

        # A cancel-only run: nothing to undo, so no undo button, and the URL says why.
        status, text = await page(client, f"{url}/run/cancels")
        assert 'id="undo"' not in text
        status, answer = await press(client, f"{url}/run/cancels/undo", token)
        assert status == 400
        assert "nothing to undo" in answer["error"]

        # Undo shows what it sets back and asks; once done, it links to the undo run.
        status, text = await page(client, f"{url}/run/updates")
        assert 'href="/run/updates/undo" id="undo"' in text
        status, text = await page(client, f"{url}/run/updates/undo")
        assert status == 200
        assert 'id="undo-button"' in text
        assert text.count("undo me") == 0  # the values set back are the old ones
        assert any(str(i) in text for i in processing[2:])  # undo.csv, shown before it runs
        status, answer = await press(client, f"{url}/run/updates/undo", token)
        assert status == 200
        await events_until(client, f"{url}/run/updates/events", done=10**9)
        status, text = await page(client, f"{url}/run/updates")
        assert 'id="undo-done"' in text
        assert 'id="undo"' not in text
        assert "Undo of updates" in text
        status, answer = await press(client, f"{url}/run/updates/undo", token)
        assert status == 400
        assert "undone already" in answer["error"]

        # No button of any of these runs answers 500.
        for run in sorted(p.name for p in runs.iterdir() if p.is_dir()):
            for action in ("resume", "rerun", "replan", "undo", "stop"):
                status, _ = await press(client, f"{url}/run/{run}/{action}", token)
                assert status < 500, (run, action)
            for view in ("", "/undo", "/send", "/rows", "/download/results.csv"):
                status, _ = await page(client, f"{url}/run/{run}{view}")
                assert status < 500, (run, view)


async def test_a_draft_can_be_deleted(
    sandbox: SandboxThread, tmp_path: Path, client_for: Any
) -> None:
    runs = tmp_path / "runs"
    with running_ui(runs, options=options_for(sandbox), env=env_for(sandbox)) as (url, token):
        client = await client_for(url, token)
        form = aiohttp.FormData()
        form.add_field("files", b"orderId,comment\n4100031,hi\n", filename="draft.csv")
        async with client.post(f"{url}/upload", data=form, headers={HEADER: token}) as answer:
            name = str((await answer.json())["next"]).split("/")[2]
        status, text = await page(client, f"{url}/runs")
        assert f'data-post="/draft/{name}/delete"' in text
        status, answer = await press(client, f"{url}/draft/{name}/delete", token)
        assert status == 200
        assert not (runs / name).exists()


async def test_the_preview_reads_in_the_background_and_can_be_stopped(
    sandbox: SandboxThread, tmp_path: Path, client_for: Any
) -> None:
    from tests.conftest import comment_file
    from tests.ui_helpers import read_preview

    path, _ = comment_file(sandbox, tmp_path, 30, "slowly")
    slow = options_for(sandbox, rate=10.0)  # 30 reads: 3 s
    with running_ui(tmp_path / "runs", options=slow, env=env_for(sandbox)) as (url, token):
        client = await client_for(url, token)
        form = aiohttp.FormData()
        form.add_field("files", path.read_bytes(), filename="comments.csv")
        form.add_field("action", "update")
        async with client.post(f"{url}/upload", data=form, headers={HEADER: token}) as answer:
            name = str((await answer.json())["next"]).split("/")[2]
        status, text = await page(client, f"{url}/draft/{name}/preview")
        assert status == 200
        assert 'id="progress"' in text  # answered at once: the orders are read meanwhile
        snapshot = await events_until(client, f"{url}/draft/{name}/preview/events", done=3)
        assert snapshot["total"] == 30  # orders read / total
        status, _ = await page(client, f"{url}/runs")
        assert status == 200  # the other pages stay usable
        status, _ = await press(client, f"{url}/draft/{name}/preview/stop", token)
        assert status == 200
        text = await read_preview(client, url, name)
        assert "stopped early" in text
        assert 'id="send-button" disabled' in text
