"""Steps 5-7 of docs/guide/operations.md: live progress and Stop, results and downloads, resume /
rerun / undo.

A run is any run directory under the runs folder, made here or by the CLI.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from aiohttp import web

from pipeline.core.errors import OptionsError, RunDirError
from pipeline.flows.resume import load_results
from pipeline.flows.run import ProgressFactory, RunResult
from pipeline.ui.history import (
    download_path,
    error_groups,
    run_info,
    run_path,
)
from pipeline.ui.offers import notes_of, rerun_offer, stale_rows, undo_offer
from pipeline.ui.pages import attachment, grid_window, render, state
from pipeline.ui.tasks import Task

EVENT_EVERY_S = 0.25
GRID_COLUMNS = ("row", "orderId", "action", "outcome", "errorCode", "error", "orderStatus")
CHANGES = "changes"  # `field: old -> new`, in runs that took before-images


def grid_columns(results: pl.DataFrame | None) -> tuple[str, ...]:
    """The results grid's columns: her order key (if she named orders by it) beside orderId."""
    from pipeline.ui.problems import her_key

    if results is None:
        return GRID_COLUMNS
    key = her_key(results.columns)
    columns = GRID_COLUMNS if key is None else ("row", key, *GRID_COLUMNS[1:])
    return (*columns, CHANGES) if CHANGES in results.columns else columns


def run_dir_of(request: web.Request) -> Path:
    """The run the URL names: a run directory under the runs folder, or one this UI started."""
    ui = state(request)
    name = request.match_info["name"]
    path = run_path(ui.config.runs_dir, name)
    task = ui.tasks.get(name)
    if path is None and task is not None and task.run_dir.name == name:
        path = task.run_dir  # started here, nothing written yet
    if path is None and task is not None and isinstance(task.result, RunResult):
        path = task.result.run_dir  # the run an undo made, under its own name
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
    label_name = run_dir.name
    if task.kind == "undo":  # the undo run gets its own folder once it starts
        label_name = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-undo-{run_dir.name}"
    return render(
        request,
        "send.html",
        step="send",
        name=run_dir.name,
        label_name=label_name,
        kind=task.kind,
        limit=limit,
    )


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
    return await stream(request, task)


async def stream(request: web.Request, task: Task) -> web.StreamResponse:
    """A task's progress as server-sent events until it is done or the page goes."""
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
    task = ui.tasks.get(run_dir.name)
    if info is None:  # a folder a rerun or undo made and left empty: nothing was sent
        message = task.error if task is not None and task.error else None
        return render(request, "problem.html", status=404, message=message or _NOTHING_HERE)
    if info.state == "draft":
        raise web.HTTPSeeOther(f"/draft/{run_dir.name}/check")
    results = await asyncio.to_thread(_results, run_dir)
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
        columns=display_columns(results),
        labels=column_labels(request, display_columns(results)),
        running=ui.tasks.running(run_dir.name),
        error=task.error if task is not None else None,
        undo=undo_offer(run_dir, info.state, results),
        rerun=await asyncio.to_thread(rerun_offer, run_dir, info.state, results),
        stale=stale_rows(results),
        notes=notes_of(info.summary),
    )


_NOTHING_HERE = "nothing was sent in this run, so it has no results; see the history"


async def result_rows(request: web.Request) -> web.Response:
    """One window of the results grid as JSON; `errors=1` keeps the rows left to do.

    The outcome and problem are words in the page's language; the code and the API's
    message stay in the detail column (and the downloads).
    """
    from pipeline.ui import words
    from pipeline.ui.pages import tr

    run_dir = run_dir_of(request)
    offset, limit, errors_only = grid_window(request)
    results = await asyncio.to_thread(_results, run_dir)
    if results is None:
        return web.json_response({"total": 0, "offset": 0, "rows": []})
    if errors_only:
        results = results.filter(~pl.col("outcome").is_in(["applied", "duplicate", "unchanged"]))
    data = grid_columns(results)
    wanted = list(dict.fromkeys([*data, "outcome", "errorCode", "error"]))
    window = results.slice(offset, limit).select(wanted)
    say = tr(request).gettext
    rows = []
    for i, found in enumerate(window.iter_rows(named=True)):
        code, outcome = found["errorCode"], found["outcome"]
        cells = {c: _text(found[c]) for c in data}
        cells["outcome"] = say(words.OUTCOMES[outcome]) if outcome in words.OUTCOMES else outcome
        cells["problem"] = say(words.SENTENCES[code]) if code in words.SENTENCES else None
        cells["detail"] = " ".join(t for t in (code, found["error"]) if t) or None
        rows.append(
            {
                "index": offset + i,
                "status": outcome,
                "cells": [cells[c] for c in display_columns(results)],
            }
        )
    return web.json_response({"total": results.height, "offset": offset, "rows": rows})


def display_columns(results: pl.DataFrame | None) -> list[str]:
    """The results grid's columns as shown: the data's, with the problem in words and
    the code and message as one detail column."""
    shown = [c for c in grid_columns(results) if c not in ("errorCode", "error")]
    at = shown.index("outcome") + 1
    return [*shown[:at], "problem", "detail", *shown[at:]]


def column_labels(request: web.Request, columns: list[str]) -> dict[str, str]:
    from pipeline.ui import words
    from pipeline.ui.pages import tr

    say = tr(request).gettext
    return {c: say(words.COLUMNS[c]) if c in words.COLUMNS else c for c in columns}


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
    info = run_info(source)
    results = await asyncio.to_thread(_results, source)
    offer = rerun_offer(source, info.state if info else "", results)
    if "done" in offer:
        raise OptionsError(f"this run was rerun already: {offer['done']}")
    if not offer:
        raise OptionsError(
            "nothing to rerun: every row landed, or failed for a reason that sending it"
            " again would not fix (see the errors by kind); fix those rows in errors.xlsx"
        )
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


async def undo_page(request: web.Request) -> web.Response:
    """What an undo would set back (undo.csv, written now), and a button to confirm it."""
    from pipeline.flows.undo import undo_run

    run_dir = run_dir_of(request)
    info = run_info(run_dir)
    results = await asyncio.to_thread(_results, run_dir)
    offer = undo_offer(run_dir, info.state if info else "", results)
    if "done" in offer:
        raise web.HTTPSeeOther(f"/run/{offer['done']}")
    if not offer:
        raise OptionsError("nothing to undo in this run: no applied change can be set back")
    result = await asyncio.to_thread(undo_run, run_dir)
    frame = pl.read_csv(result.undo_csv, infer_schema=False)
    shown = [c for c in frame.columns if c not in ("undoes",)]
    return render(
        request,
        "undo.html",
        step="results",
        info=info,
        columns=shown,
        rows=list(frame.select(shown).head(PREVIEW_ROWS).iter_rows()),
        total=frame.height,
        not_undoable=result.not_undoable,
    )


PREVIEW_ROWS = 500


async def undo(request: web.Request) -> web.Response:
    """`quivo-bulk undo --apply`: set the applied changes back, as a new run beside this one."""
    from pipeline.flows.undo import undo_run

    ui = state(request)
    run_dir = run_dir_of(request)
    info = run_info(run_dir)
    results = await asyncio.to_thread(_results, run_dir)
    offer = undo_offer(run_dir, info.state if info else "", results)
    if "done" in offer:
        raise OptionsError(f"this run was undone already: {offer['done']}")
    if not offer:
        raise OptionsError("nothing to undo in this run: no applied change can be set back")

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
