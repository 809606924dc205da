"""Steps 5-7 of docs/guide/operations.md: live progress and Stop, results and downloads, resume /
rerun / undo.

A run is any run directory under the runs folder, made here or by the CLI.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import polars as pl
from aiohttp import web

from pipeline.core.errors import OptionsError, RunDirError
from pipeline.flows.resume import load_results
from pipeline.flows.run import ProgressFactory, RunResult
from pipeline.ui.app import attachment, grid_window, render, state
from pipeline.ui.history import download_path, error_groups, run_info, run_path

EVENT_EVERY_S = 0.25
GRID_COLUMNS = ("row", "orderId", "action", "outcome", "errorCode", "error", "orderStatus")
CHANGES = "changes"  # `field: old -> new`, in runs that took before-images


def grid_columns(results: pl.DataFrame | None) -> tuple[str, ...]:
    with_changes = results is not None and CHANGES in results.columns
    return (*GRID_COLUMNS, CHANGES) if with_changes else GRID_COLUMNS


def run_dir_of(request: web.Request) -> Path:
    """The run the URL names: a run directory under the runs folder, or one this UI started."""
    ui = state(request)
    name = request.match_info["name"]
    task = ui.tasks.get(name)
    path = task.run_dir if task is not None else run_path(ui.config.runs_dir, name)
    if path is None:
        raise web.HTTPNotFound(text="no such run under the runs directory")
    return path


async def send_page(request: web.Request) -> web.Response:
    """Step 5: the progress of a run this UI is sending (or the results once it is done)."""
    run_dir = run_dir_of(request)
    task = state(request).tasks.get(run_dir.name)
    if task is None:
        raise web.HTTPSeeOther(f"/run/{run_dir.name}")
    api = state(request).config.options.api
    limit = rate_label(rate_per_s=api.rate_per_s, auto=api.rate_auto) if task.kind == "run" else ""
    return render(request, "send.html", step="send", name=run_dir.name, kind=task.kind, limit=limit)


def rate_label(*, rate_per_s: float | None, auto: bool) -> str:
    """How the run is paced, in words: `at most 5/s`, `auto, at most 100/s`, `unpaced`."""
    if rate_per_s is None:
        return "unpaced"
    shown = f"{rate_per_s:g}/s"
    return f"auto, at most {shown}" if auto else f"at most {shown}"


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a progress snapshot every quarter second, the last one when done."""
    run_dir = run_dir_of(request)
    task = state(request).tasks.get(run_dir.name)
    if task is None:
        raise web.HTTPNotFound(text="this run is not being sent by this UI")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    while True:
        snapshot = task.snapshot()
        try:
            await response.write(f"data: {json.dumps(snapshot)}\n\n".encode())
        except ConnectionResetError:  # the page went away; the run goes on
            break
        if snapshot["state"] != "running":
            break
        await asyncio.sleep(EVENT_EVERY_S)
    return response


async def stop(request: web.Request) -> web.Response:
    """Stop as Ctrl-C: nothing new is sent, the reports are written, the run can be resumed."""
    run_dir = run_dir_of(request)
    task = state(request).tasks.get(run_dir.name)
    if task is None or task.state != "running":
        raise OptionsError("this run is not running")
    task.stop()
    return web.json_response({"stopping": True})


def _results(run_dir: Path) -> pl.DataFrame | None:
    if not (run_dir / "results.parquet").exists():
        return None
    return load_results(run_dir)


async def results_page(request: web.Request) -> web.Response:
    """Step 6: counts, error groups, the rows (a grid), downloads, and what to do next."""
    ui = state(request)
    run_dir = run_dir_of(request)
    info = run_info(run_dir)
    assert info is not None  # run_path only finds runs
    if info.state == "draft":
        raise web.HTTPSeeOther(f"/draft/{run_dir.name}/check")
    results = await asyncio.to_thread(_results, run_dir)
    task = ui.tasks.get(run_dir.name)
    downloads = [
        name
        for name in (
            "results.xlsx",
            "results.csv",
            "errors.xlsx",
            "errors.csv",
            "undo.csv",
            "not-undoable.csv",
            "summary.json",
        )
        if download_path(run_dir, name) is not None
    ]
    return render(
        request,
        "results.html",
        step="results",
        info=info,
        groups=error_groups(results) if results is not None else [],
        downloads=downloads,
        columns=grid_columns(results),
        running=ui.tasks.running(run_dir.name),
        error=task.error if task is not None else None,
        can_undo=info.state == "finished" and (run_dir / "before.parquet").exists(),
        stale=stale_rows(results),
    )


def stale_rows(results: pl.DataFrame | None, *, shown: int = 20) -> dict[str, Any] | None:
    """The rows left unsent because their orders changed since the preview: count, rows."""
    if results is None:
        return None
    stale = results.filter(pl.col("outcome") == "stale")
    if stale.is_empty():
        return None
    return {"count": stale.height, "rows": stale["row"].head(shown).to_list()}


async def result_rows(request: web.Request) -> web.Response:
    """One window of the results grid as JSON; `errors=1` keeps the rows left to do."""
    run_dir = run_dir_of(request)
    offset, limit, errors_only = grid_window(request)
    results = await asyncio.to_thread(_results, run_dir)
    if results is None:
        return web.json_response({"total": 0, "offset": 0, "rows": []})
    if errors_only:
        results = results.filter(~pl.col("outcome").is_in(["applied", "duplicate", "unchanged"]))
    window = results.slice(offset, limit).select(grid_columns(results))
    rows = [
        {"index": offset + i, "status": cells[3], "cells": [_text(c) for c in cells]}
        for i, cells in enumerate(window.iter_rows())
    ]
    return web.json_response({"total": results.height, "offset": offset, "rows": rows})


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def download(request: web.Request) -> web.FileResponse:
    """A report by its name among the known ones: never a path the browser made up."""
    run_dir = run_dir_of(request)
    name = request.match_info["file"]
    path = download_path(run_dir, name)
    if path is None:
        raise web.HTTPNotFound(text="no such report in this run")
    return attachment(path, f"{run_dir.name}-{name}")


async def resume(request: web.Request) -> web.Response:
    """`quivo-bulk resume` on this run directory, in a worker thread."""
    from pipeline.flows.resume import resume_run

    ui = state(request)
    run_dir = run_dir_of(request)
    ui.tasks.start(
        run_dir,
        "resume",
        lambda progress: resume_run(run_dir, env=ui.env, progress_factory=progress),
    )
    return web.json_response({"next": f"/run/{run_dir.name}/send"})


async def rerun(request: web.Request) -> web.Response:
    """`quivo-bulk rerun` of this run into a new run directory beside it."""
    from pipeline.flows.rerun import rerun_dir, rerun_run
    from pipeline.flows.resume import run_job_name

    ui = state(request)
    source = run_dir_of(request)
    target = rerun_dir(source, run_job_name(source), root=ui.config.runs_dir)
    target.mkdir(mode=0o700, parents=True)
    ui.tasks.start(
        target,
        "rerun",
        lambda progress: rerun_run(source, env=ui.env, out=target, progress_factory=progress),
    )
    return web.json_response({"next": f"/run/{target.name}/send"})


async def replan(request: web.Request) -> web.Response:
    """Plan again: this run's stale rows as a new draft, then its preview."""
    from pipeline.ui.replan import stale_draft

    ui = state(request)
    draft = await asyncio.to_thread(stale_draft, run_dir_of(request), runs_dir=ui.config.runs_dir)
    ui.drafts[draft.name] = draft
    return web.json_response({"next": f"/draft/{draft.name}/preview"})


async def undo(request: web.Request) -> web.Response:
    """`quivo-bulk undo --apply`: set the applied changes back, as a new run beside this one."""
    from pipeline.flows.undo import undo_run

    ui = state(request)
    run_dir = run_dir_of(request)

    def work(progress: ProgressFactory) -> RunResult:
        result = undo_run(run_dir, env=ui.env, apply=True, progress_factory=progress)
        if result.run is None:
            raise RunDirError(
                f"nothing to undo in {run_dir.name}: no applied change can be set back"
                f" (see {result.not_undoable_csv.name})"
            )
        return result.run

    ui.tasks.start(run_dir, "undo", work)
    return web.json_response({"next": f"/run/{run_dir.name}/send"})
