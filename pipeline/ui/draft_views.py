"""Steps 1-4 of docs/guide/operations.md: upload, columns, check (grid, edits, fixed file), preview
and send.

Each handler reads what the browser sent, calls `Draft` (which calls the
library) and renders a page or answers JSON for the page's script.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from pipeline.config.options import Options
from pipeline.config.settings import RunOptions
from pipeline.core.errors import InputFileError, OptionsError
from pipeline.core.manifest import Origin
from pipeline.inputs.changes import ACTIONS, ADDRESS_TYPES
from pipeline.inputs.columns import CANONICAL, NOT_USED, normalize
from pipeline.store.journal import JOURNAL_NAME
from pipeline.ui.drafts import Check, Draft
from pipeline.ui.history import run_path
from pipeline.ui.pages import PAGE_ROWS_MAX, attachment, grid_window, json_body, render, state, tr


def draft_of(request: web.Request) -> Draft:
    """The draft the URL names, looked up among the runs directory's own folders."""
    ui = state(request)
    name = request.match_info["name"]
    if name in ui.drafts:
        return ui.drafts[name]
    path = run_path(ui.config.runs_dir, name)
    if path is None or not (path / "ui-draft.json").exists():
        raise web.HTTPNotFound(text="no such draft; start again from the first page")
    draft = ui.drafts[name] = Draft.load(path)
    return draft


async def checked(request: web.Request, draft: Draft) -> Check:
    """Validate in a worker thread: a large file must not stall the other requests."""
    return await asyncio.to_thread(draft.check, state(request).config.options)


async def upload(request: web.Request) -> web.Response:
    """Step 1: store the files in a new run directory; the form's choices go with them."""
    limit = state(request).config.max_upload_bytes
    if (request.content_length or 0) > limit:
        raise web.HTTPRequestEntityTooLarge(limit, request.content_length or 0)
    uploads: list[tuple[str, bytes]] = []
    choices: dict[str, str] = {}
    received = 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "files" and part.filename:
            data = bytes(await part.read())
            received += len(data)
            if received > limit:  # several files, each under the limit, are not more
                raise web.HTTPRequestEntityTooLarge(limit, received)
            uploads.append((part.filename, data))
        elif part.name in ("action", "address_type", "sheet", "job"):
            choices[part.name] = (await part.text()).strip()
    ui = state(request)
    draft = await asyncio.to_thread(Draft.create, ui.config.runs_dir, uploads=uploads)
    try:
        job = _job_choices(ui.config.job_files(), choices.get("job"))
        draft.choose(**(_choices(choices) | job))
        await asyncio.to_thread(_readable, draft, ui.config.options)
    except Exception:
        await asyncio.to_thread(shutil.rmtree, draft.run_dir, True)  # refused: no draft left
        raise
    ui.drafts[draft.name] = draft
    return web.json_response({"next": f"/draft/{draft.name}/columns"})


def _readable(draft: Draft, options: RunOptions) -> None:
    """Refuse an empty or unreadable upload at once, with the reason; a file whose columns
    are not understood yet goes on to the Columns step, where they can be chosen."""
    try:
        draft.read_uploads(options)
    except InputFileError as error:
        if "no order key column" not in str(error):
            raise


async def delete(request: web.Request) -> web.Response:
    """Delete a draft (nothing was sent from it): its folder and uploads go."""
    ui = state(request)
    draft = draft_of(request)
    if (draft.run_dir / JOURNAL_NAME).exists() or (draft.run_dir / "summary.json").exists():
        raise OptionsError("this is a run, not a draft; runs are kept")
    ui.drafts.pop(draft.name, None)
    await asyncio.to_thread(shutil.rmtree, draft.run_dir)
    return web.json_response({"next": "/runs"})


def _job_choices(jobs: dict[str, Path], name: str | None) -> dict[str, Any]:
    """A job file's reading settings (action, address type, sheet, columns), by its listed name."""
    if not name:
        return {}
    if name not in jobs:
        raise OptionsError(f"no job file {name!r} is offered; pick one from the list")
    from pipeline.config.jobfile import load_job

    job = load_job(jobs[name])
    found = {"action": job.action, "address_type": job.address_type, "sheet": job.sheet}
    return {k: v for k, v in found.items() if v} | {"columns": dict(job.columns)}


def _choices(form: dict[str, Any]) -> dict[str, Any]:
    """The form's choices, checked as every other way in checks them (`Options`)."""
    given = Options(
        action=form.get("action") or None,
        address_type=form.get("address_type") or "DELIVERY",
        sheet=form.get("sheet") or None,
    )
    return {"action": given.action, "address_type": given.address_type, "sheet": given.sheet}


async def columns_page(request: web.Request) -> web.Response:
    """Step 2: how each header was read, with a choice to read it as another field."""
    draft = draft_of(request)
    try:
        check: Check | None = await checked(request, draft)
        error = None
    except InputFileError as problem:
        check, error = None, str(problem)
        if "no action column" in error:  # the CLI's words name --action; hers, this form
            error = tr(request).gettext(
                "Your file has no action column: choose above what to do with its rows"
                " (the address only, an update, or a cancellation), then read it again."
            )
    rows = []
    for source in check.prepared.table.files if check else ():
        for header in source.headers:
            field = source.columns.fields.get(header)
            rows.append(
                {
                    "file": source.name,
                    "header": header,
                    "field": field,
                    "synonym": field is not None and normalize(header) != normalize(field),
                    "not_used": draft.settings.columns.get(header) == NOT_USED,
                    "chosen": draft.settings.columns.get(header, ""),
                }
            )
    return render(
        request,
        "columns.html",
        step="columns",
        draft=draft,
        rows=rows,
        error=error,
        fields=CANONICAL,
        not_used=NOT_USED,
        sheets=draft.sheets(),
        actions=ACTIONS,
        address_types=ADDRESS_TYPES,
    )


async def save_columns(request: web.Request) -> web.Response:
    draft = draft_of(request)
    body = json_body(await request.json())
    mapping = body.get("columns") or {}
    if not isinstance(mapping, dict) or any(
        not isinstance(v, str)
        or (v not in CANONICAL and v != NOT_USED and not v.startswith("customAttributes."))
        for v in mapping.values()
    ):
        raise OptionsError("a column can be read as one of the listed fields only")
    choices = _choices(body) | {"columns": {str(k): v for k, v in mapping.items() if v}}
    await asyncio.to_thread(draft.choose, **choices)
    return web.json_response({"next": f"/draft/{draft.name}/check"})


async def check_page(request: web.Request) -> web.Response:
    """Step 3: counts and the grid's frame; its rows come from `rows` page by page."""
    draft = draft_of(request)
    check = await checked(request, draft)
    return render(
        request,
        "check.html",
        step="check",
        draft=draft,
        counts=check.counts(),
        headers=check.headers,
        warnings=[w for w in check.prepared.table.warnings if "--skip-hidden-rows" not in w],
        hidden=check.hidden,
        skip_hidden=draft.settings.skip_hidden,
    )


async def hidden_rows(request: web.Request) -> web.Response:
    """Send the rows her workbook hides, or leave them out: {"skip": true | false}."""
    draft = draft_of(request)
    body = json_body(await request.json())
    skip = body.get("skip")
    if not isinstance(skip, bool):
        raise web.HTTPBadRequest(text="skip is true or false")
    await asyncio.to_thread(draft.choose, skip_hidden=skip)
    return web.json_response({"next": f"/draft/{draft.name}/check"})


async def grid_rows(request: web.Request) -> web.Response:
    """One window of the check grid as JSON: {total, offset, rows: [...]}."""
    draft = draft_of(request)
    check = await checked(request, draft)
    offset, limit, errors_only = grid_window(request)
    indexes = check.indexes(errors_only=errors_only)
    rows = worded(request, check.rows(indexes[offset : offset + limit]))
    return web.json_response({"total": len(indexes), "offset": offset, "rows": rows})


def worded(request: web.Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's problem as a sentence in the page's language (`problem`); the code and
    the check's own message stay as the detail."""
    from pipeline.ui.pages import tr
    from pipeline.ui.words import SENTENCES

    say = tr(request).gettext
    for row in rows:
        code = row.get("code")
        if code in SENTENCES:
            row["problem"] = say(SENTENCES[code])
        elif row["status"] == "duplicate":
            row["problem"] = say(SENTENCES["duplicate"])
        else:
            row["problem"] = None
    return rows


async def edit_cell(request: web.Request) -> web.Response:
    """Set one cell and check again at once; answer the row and the new counts."""
    draft = draft_of(request)
    body = json_body(await request.json())
    try:
        index, header = int(body["index"]), str(body["header"])
    except (KeyError, TypeError, ValueError):
        raise web.HTTPBadRequest(text="index and header are needed") from None
    value = body.get("value")
    text = None if value is None else str(value)
    options = state(request).config.options
    check = await asyncio.to_thread(
        lambda: draft.edit(index=index, header=header, value=text, base=options)
    )
    row = worded(request, check.rows([index]))[0]
    return web.json_response({"row": row, "counts": check.counts()})


async def fixed_file(request: web.Request) -> web.FileResponse:
    draft = draft_of(request)
    path = await asyncio.to_thread(draft.fixed_file, state(request).config.options)
    return attachment(path, f"fixed-{draft.settings.names[0]}")


def preview_key(draft: Draft) -> str:
    return f"preview:{draft.name}"


async def preview_page(request: web.Request) -> web.Response:
    """Step 4: the plan: per row old -> new, what will fail and why; cancels to confirm.

    Reading the orders is a background task with live progress and a Stop button, as
    sending is: this page shows the progress until the plan is there, then the plan.
    """
    from pipeline.ui.preview import preview

    ui = state(request)
    draft = draft_of(request)
    planned = draft.planned
    task = ui.tasks.get(preview_key(draft))
    if planned is None:
        if task is not None and task.state == "failed" and not ui.tasks.running(preview_key(draft)):
            ui.tasks.forget(preview_key(draft))
            raise OptionsError(task.error or "the preview failed")
        if task is None or task.state != "running":
            await checked(request, draft)  # a file that does not read fails here, at once
            options, env = ui.config.options, ui.env
            ui.tasks.start(
                draft.run_dir,
                "preview",
                lambda progress: draft.plan(options, env=env, progress_factory=progress),
                key=preview_key(draft),
            )
        return render(request, "preview.html", step="preview", draft=draft, reading=True)
    shown = preview(planned, limit=PAGE_ROWS_MAX)
    return render(
        request,
        "preview.html",
        step="preview",
        draft=draft,
        preview=shown,
        reading=False,
        read_at=planned.summary.created_at,
    )


async def preview_events(request: web.Request) -> web.StreamResponse:
    """The preview's progress as server-sent events (orders read / total, time left)."""
    from pipeline.ui.run_views import stream

    draft = draft_of(request)
    task = state(request).tasks.get(preview_key(draft))
    if task is None:
        raise web.HTTPNotFound(text="no preview is being read")
    return await stream(request, task)


async def preview_stop(request: web.Request) -> web.Response:
    """Stop reading the orders; the preview shows what was read and cannot be sent."""
    draft = draft_of(request)
    task = state(request).tasks.get(preview_key(draft))
    if task is None or task.state != "running":
        raise OptionsError("the preview is not being read")
    task.stop()
    return web.json_response({"stopping": True})


async def preview_again(request: web.Request) -> web.Response:
    """Read the orders again (someone may have changed them since)."""
    draft = draft_of(request)
    if state(request).tasks.running(preview_key(draft)):
        raise OptionsError("the preview is being read already")
    draft.forget_plan()
    return web.json_response({"next": f"/draft/{draft.name}/preview"})


async def send(request: web.Request) -> web.Response:
    """Confirm and send what the preview showed: every row, each order checked first.

    Every input row is in the run's reports (the invalid ones too, so errors.xlsx is
    the file to fix). Each order the preview read is checked again before anything is
    sent for it (a batched search of lastModified and status; a full read when it
    moved): if its status or a field its rows set differs from the preview, it
    was changed by someone else since, and its rows are `stale` (changed_since_plan),
    nothing sent, as `quivo-bulk apply` does.
    """
    from pipeline.flows.run import run_files

    ui = state(request)
    draft = draft_of(request)
    body = json_body(await request.json())
    planned = draft.planned
    if planned is None:
        raise OptionsError("open the preview first: it shows what will be sent")
    if planned.summary.stopped or planned.unread:
        draft.forget_plan()  # the next preview reads the orders again
        more = ", ..." if len(planned.unread) > 5 else ""
        shown = ", ".join(map(str, planned.unread[:5])) + more
        why = planned.summary.stopped or f"not read: order {shown}"
        raise OptionsError(
            "the preview could not read every order, so it cannot be sent as shown"
            f" ({why}); open the preview again"
        )
    cancels = planned.summary.cancels
    if cancels and body.get("confirm") != cancels:
        raise OptionsError(f"type the number of orders to cancel ({cancels}) to confirm")
    options = draft.options(ui.config.options)
    paths, names = draft.input_paths(), list(draft.settings.names)
    ui.tasks.start(
        draft.run_dir,
        "run",
        lambda progress: run_files(
            paths,
            options=options,
            env=ui.env,
            out=draft.run_dir,
            # The person typed the number the preview showed: that is the run's "yes".
            confirm=lambda _orders, _url: True,
            progress_factory=progress,
            names=names,
            prepared_dir=True,
            origin=Origin(applies=str(planned.plan_dir)),
            preconditions=planned.as_read,
        ),
    )
    ui.drafts.pop(draft.name, None)
    return web.json_response({"next": f"/run/{draft.name}/send"})
