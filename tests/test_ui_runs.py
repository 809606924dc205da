"""Runs in the UI are the CLI's runs: the same directories, either way round
(docs/guide/operations.md)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config.options import Options
from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxThread
from pipeline.ui.security import HEADER
from tests.conftest import (
    API_KEY,
    PASSWORD,
    REPO,
    SAMPLE_DATA,
    USERNAME,
    comment_file,
    env_for,
    options_for,
)
from tests.readme import blocks, section
from tests.ui_helpers import read_preview, running_ui


def readme_example() -> list[str]:
    """The `quivo-bulk ui` example exactly as docs/reference/commands.md prints it."""
    [block] = blocks(section("## `quivo-bulk ui`", page="docs/reference/commands.md"), "sh")
    (line,) = block.splitlines()
    return line.split()[1:]


def test_the_printed_example_serves_its_printed_url(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QUIVO_BASE_URL": sandbox.base_url,
        "QUIVO_API_KEY": API_KEY,
        "QUIVO_USERNAME": USERNAME,
        "QUIVO_PASSWORD": PASSWORD,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *readme_example()],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        (url,) = re.findall(r"http://127\.0\.0\.1:\d+/\?token=\S+", first)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        with opener.open(url, timeout=10) as answer:
            page = answer.read().decode()
            assert answer.status == 200
            assert "token=" not in answer.url  # redirected without it; the cookie holds it
        assert "Start: pick the file" in page
        assert PASSWORD not in page
        assert API_KEY not in page
    finally:
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=10)
        assert server.stdout is not None
        server.stdout.close()
    assert code == 0
    assert (tmp_path / "runs" / "ui").is_dir() or not (tmp_path / "runs").exists()


@pytest.fixture
async def client_for() -> AsyncIterator[Any]:
    sessions: list[aiohttp.ClientSession] = []

    async def connect(url: str, token: str) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        async with session.get(f"{url}/?token={token}") as answer:
            assert answer.status == 200
        return session

    yield connect
    for session in sessions:
        await session.close()


async def test_a_run_made_by_the_cli_is_listed_and_opened(
    sandbox: SandboxThread, tmp_path: Path, client_for: Any
) -> None:
    runs = tmp_path / "runs"
    path, ids = comment_file(sandbox, tmp_path, 5, "from the CLI")
    result = await asyncio.to_thread(
        lambda: run_files(
            [path],
            options=options_for(sandbox, action="update"),
            env=env_for(sandbox),
            out=runs / "cli-run",
        )
    )
    with running_ui(runs, options=options_for(sandbox), env=env_for(sandbox)) as (url, token):
        client = await client_for(url, token)
        async with client.get(f"{url}/runs") as answer:
            assert "cli-run" in await answer.text()
        async with client.get(f"{url}/run/cli-run") as answer:
            page = await answer.text()
            assert answer.status == 200
        assert result.summary.outcomes == {"applied": 5}, result.summary
        assert "<b>5</b> changed" in page
        async with client.get(f"{url}/run/cli-run/rows?offset=0&limit=100") as answer:
            rows = await answer.json()
        assert rows["total"] == 5
        assert [int(r["cells"][1]) for r in rows["rows"]] == ids


async def events_until(client: aiohttp.ClientSession, url: str, *, done: int) -> dict[str, Any]:
    """Read the progress stream until `done` rows are done (or the run ended)."""
    snapshot: dict[str, Any] = {}
    async with client.get(url) as answer:
        async for line in answer.content:
            if line.startswith(b"data: "):
                snapshot = json.loads(line[6:])
                if snapshot.get("done", 0) >= done or snapshot["state"] != "running":
                    break
    return snapshot


async def upload_comments(client: aiohttp.ClientSession, url: str, token: str, data: bytes) -> str:
    """Upload `data` as an update file, as the browser's form does; the new draft's name."""
    form = aiohttp.FormData()
    form.add_field("files", data, filename="comments.csv")
    form.add_field("action", "update")
    async with client.post(f"{url}/upload", data=form, headers={HEADER: token}) as answer:
        return str((await answer.json())["next"].split("/")[2])


@pytest.mark.slow
@pytest.mark.parametrize("resume_from", ["cli", "browser"])
async def test_stop_in_the_browser_leaves_a_resumable_run(
    sandbox: SandboxThread, tmp_path: Path, client_for: Any, resume_from: str
) -> None:
    runs = tmp_path / "runs"
    path, _ = comment_file(sandbox, tmp_path, 40, "stopped")
    slow = options_for(sandbox, rate=20.0)  # 120 requests (read, change, refetch): 6 s
    with running_ui(runs, options=slow, env=env_for(sandbox)) as (url, token):
        client = await client_for(url, token)
        name = await upload_comments(client, url, token, path.read_bytes())
        await read_preview(client, url, name)  # the plan: 40 reads, nothing sent
        async with client.post(f"{url}/draft/{name}/send", json={}, headers={HEADER: token}):
            pass
        await events_until(client, f"{url}/run/{name}/events", done=1)
        async with client.post(f"{url}/run/{name}/stop", headers={HEADER: token}) as answer:
            assert answer.status == 200
        last = await events_until(client, f"{url}/run/{name}/events", done=10**9)
        assert last["state"] == "finished"
        assert last["exit_code"] == 3
        summary = json.loads((runs / name / "summary.json").read_text())
        assert summary["outcomes"]["not_attempted"] > 0
        assert "browser" in summary["stopped"]
        async with client.get(f"{url}/run/{name}") as answer:
            assert 'id="resume"' in await answer.text()
        if resume_from == "browser":
            async with client.post(f"{url}/run/{name}/resume", headers={HEADER: token}) as answer:
                assert (await answer.json())["next"] == f"/run/{name}/send"
            last = await events_until(client, f"{url}/run/{name}/events", done=10**9)
            assert last["exit_code"] == 0
            async with client.get(f"{url}/run/{name}") as answer:
                assert 'id="resume"' not in await answer.text()
    if resume_from == "browser":
        final = json.loads((runs / name / "summary.json").read_text())
        assert final["outcomes"] == {"applied": 40}
        return

    env = {"QUIVO_API_KEY": API_KEY, "QUIVO_USERNAME": USERNAME, "QUIVO_PASSWORD": PASSWORD}
    resumed = await asyncio.to_thread(
        CliRunner().invoke, main, ["resume", str(runs / name), "--rate", "500"], env=env
    )
    assert resumed.exit_code == 0, resumed.output  # the CLI finishes the UI's stopped run
    report = await asyncio.to_thread(CliRunner().invoke, main, ["report", str(runs / name)])
    assert report.exit_code == 0
    assert "applied" in report.output
    final = json.loads((runs / name / "summary.json").read_text())
    assert final["outcomes"] == {"applied": 40}  # every row once, all landed


def test_make_demo_names_the_ui(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "`quivo-bulk ui`" in result.output.splitlines()[-1]


async def test_a_job_file_sets_how_the_upload_is_read(
    sandbox: SandboxThread, tmp_path: Path, client_for: Any
) -> None:
    """Picking the address job reads the upload as `quivo-bulk validate --job` does."""
    from pipeline.config.jobfile import load_job
    from pipeline.config.settings import resolve_options
    from pipeline.flows.run import validate_files

    job = load_job(REPO / "jobs" / "address-corrections.toml")
    expected = await asyncio.to_thread(
        validate_files,
        job.input_paths(),
        options=resolve_options(Options(), job=job, env=None),
        out=tmp_path / "cli",
    )
    runs = tmp_path / "runs"
    options = options_for(sandbox)
    with running_ui(runs, options=options, env=env_for(sandbox), jobs_dir=REPO / "jobs") as (
        url,
        token,
    ):
        client = await client_for(url, token)
        async with client.get(url + "/") as answer:
            assert "address-corrections.toml" in await answer.text()
        for job_name, status in (
            ("../jobs/address-corrections.toml", 400),
            ("address-corrections.toml", 200),
        ):
            form = aiohttp.FormData()
            data = (SAMPLE_DATA / "address-corrections.csv").read_bytes()
            form.add_field("files", data, filename="address-corrections.csv")
            form.add_field("job", job_name)
            async with client.post(f"{url}/upload", data=form, headers={HEADER: token}) as answer:
                assert answer.status == status
                reply = await answer.json()
        assert "pick one from the list" in str(reply) or "next" in reply
        name = reply["next"].split("/")[2]
        async with client.get(f"{url}/draft/{name}/rows?errors=1&limit=500") as answer:
            rows = await answer.json()
    invalid = expected.summary.outcomes.get("invalid", 0)
    assert invalid > 0
    assert rows["total"] == invalid
    draft = json.loads((runs / name / "ui-draft.json").read_text())
    assert draft["action"] == "address"


async def test_send_leaves_an_order_moved_since_the_preview_stale_whatever_it_predicted(
    sandbox: SandboxThread, tmp_path: Path, client_for: Any
) -> None:
    """A row the preview found unchanged is not sent either when its order moved since."""
    from tests.conftest import order_ids, state_of
    from tests.test_plan_apply_undo import mutations, other_client_patch

    changing, holding = order_ids(sandbox, "PROCESSING", 2)
    await asyncio.to_thread(other_client_patch, sandbox, holding, {"comment": "already so"})
    path = tmp_path / "comments.csv"
    path.write_text(f"orderId,comment\n{changing},new text\n{holding},already so\n")
    runs = tmp_path / "runs"
    with running_ui(runs, options=options_for(sandbox), env=env_for(sandbox)) as (url, token):
        client = await client_for(url, token)
        name = await upload_comments(client, url, token, path.read_bytes())
        preview = await read_preview(client, url, name)
        assert preview.count('<tr class="unchanged">') == 1
        await asyncio.to_thread(other_client_patch, sandbox, holding, {"comment": "theirs"})
        async with client.post(f"{url}/draft/{name}/send", json={}, headers={HEADER: token}):
            pass
        last = await events_until(client, f"{url}/run/{name}/events", done=10**9)
        assert last["exit_code"] == 1
    results = json.loads((runs / name / "summary.json").read_text())
    assert results["outcomes"] == {"applied": 1, "stale": 1}
    order = state_of(sandbox).order(holding, touch=False)
    assert order is not None
    assert order["comment"] == "theirs"
    assert mutations(sandbox, holding) == 2  # the other client's two; none by the UI


async def test_send_checks_the_preview_in_batches_and_reads_only_orders_that_moved(
    sandbox: SandboxThread, tmp_path: Path, client_for: Any
) -> None:
    """Send asks GET /orders for the previewed orders' lastModified and status; only the
    two orders changed since the preview are read in full: the one changed in the field
    the draft sets is stale, the one changed in another field is sent."""
    from tests.conftest import order_ids, state_of
    from tests.test_plan_apply_undo import other_client_patch

    ids = order_ids(sandbox, "PROCESSING", 10)
    path = tmp_path / "comments.csv"
    path.write_text("orderId,comment\n" + "".join(f"{o},batched {o}\n" for o in ids))
    runs = tmp_path / "runs"
    with running_ui(runs, options=options_for(sandbox), env=env_for(sandbox)) as (url, token):
        client = await client_for(url, token)
        name = await upload_comments(client, url, token, path.read_bytes())
        await read_preview(client, url, name)  # the plan: its orders read
        await asyncio.to_thread(other_client_patch, sandbox, ids[0], {"comment": "theirs"})
        await asyncio.to_thread(other_client_patch, sandbox, ids[1], {"trackingEnabled": True})
        async with client.post(f"{url}/draft/{name}/send", json={}, headers={HEADER: token}):
            pass
        last = await events_until(client, f"{url}/run/{name}/events", done=10**9)
        assert last["exit_code"] == 1
    summary = json.loads((runs / name / "summary.json").read_text())
    assert summary["outcomes"] == {"applied": 9, "stale": 1}
    assert summary["requests_by_kind"]["search"] == 1
    assert summary["requests_by_kind"]["read"] == 2
    first, second = (state_of(sandbox).order(o, touch=False) for o in ids[:2])
    assert first is not None
    assert second is not None
    assert first["comment"] == "theirs"
    assert second["comment"] == f"batched {ids[1]}"
    assert second["trackingEnabled"] is True


async def test_a_preview_that_could_not_read_an_order_is_not_sent(
    sandbox: SandboxThread, tmp_path: Path, client_for: Any
) -> None:
    """An order the preview could not read is not sent unseen: Send asks for a new preview."""
    from dataclasses import replace

    from tests.conftest import order_ids, state_of
    from tests.test_plan_apply_undo import mutations, other_client_patch

    readable, bloated = order_ids(sandbox, "PROCESSING", 2)
    # An answer over the client's size limit cannot be read (orders are 4-9 KB).
    big = {"customAttributes": {"bloat": "x" * 20_000}}
    await asyncio.to_thread(other_client_patch, sandbox, bloated, big)
    options = options_for(sandbox)
    options = replace(options, api=replace(options.api, max_body_bytes=15_000))
    path = tmp_path / "comments.csv"
    path.write_text(f"orderId,comment\n{readable},seen\n{bloated},unseen\n")
    runs = tmp_path / "runs"
    with running_ui(runs, options=options, env=env_for(sandbox)) as (url, token):
        client = await client_for(url, token)
        name = await upload_comments(client, url, token, path.read_bytes())
        preview = await read_preview(client, url, name)
        assert preview.count('<tr class="will_change">') == 1
        assert "could not be read" in preview
        # Readable again before Send: still not sent, it was never shown.
        shrink = {"customAttributes": {"bloat": ""}}
        await asyncio.to_thread(other_client_patch, sandbox, bloated, shrink)
        send = f"{url}/draft/{name}/send"
        async with client.post(send, json={}, headers={HEADER: token}) as answer:
            refusal = await answer.json()
            assert answer.status == 400
        assert f"not read: order {bloated}" in refusal["error"]
        assert "open the preview again" in refusal["error"]
        assert mutations(sandbox, readable) == 0
        assert mutations(sandbox, bloated) == 2  # the other client's two
        preview = await read_preview(client, url, name)  # read again: both orders now
        assert preview.count('<tr class="will_change">') == 2
        async with client.post(send, json={}, headers={HEADER: token}) as answer:
            assert answer.status == 200
        last = await events_until(client, f"{url}/run/{name}/events", done=10**9)
        assert last["exit_code"] == 0
    order = state_of(sandbox).order(bloated, touch=False)
    assert order is not None
    assert order["comment"] == "unseen"
