"""Steps 1-4 of docs/guide/operations.md: upload, columns, check (grid, edits, fixed file), preview
and send.

Each handler reads what the browser sent, calls `Draft` (which calls the
library) and renders a page or answers JSON for the page's script.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from pipeline.config.options import Options
from pipeline.core.changes import ACTIONS, ADDRESS_TYPES
from pipeline.core.errors import InputFileError, OptionsError
from pipeline.core.manifest import Origin
from pipeline.inputs.columns import CANONICAL, normalize
from pipeline.ui.app import PAGE_ROWS_MAX, attachment, grid_window, json_body, render, state
from pipeline.ui.drafts import Check, Draft
from pipeline.ui.history import run_path


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
    ui.drafts[draft.name] = draft
    job = _job_choices(ui.config.job_files(), choices.get("job"))
    draft.choose(**(_choices(choices) | job))
    return web.json_response({"next": f"/draft/{draft.name}/columns"})


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
        sheets=draft.sheets(),
        actions=ACTIONS,
        address_types=ADDRESS_TYPES,
    )


async def save_columns(request: web.Request) -> web.Response:
    draft = draft_of(request)
    body = json_body(await request.json())
    mapping = body.get("columns") or {}
    if not isinstance(mapping, dict) or any(
        not isinstance(v, str) or (v not in CANONICAL and not v.startswith("customAttributes."))
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
        warnings=check.prepared.table.warnings,
    )


async def grid_rows(request: web.Request) -> web.Response:
    """One window of the check grid as JSON: {total, offset, rows: [...]}."""
    draft = draft_of(request)
    check = await checked(request, draft)
    offset, limit, errors_only = grid_window(request)
    indexes = check.indexes(errors_only=errors_only)
    rows = check.rows(indexes[offset : offset + limit])
    return web.json_response({"total": len(indexes), "offset": offset, "rows": rows})


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
    return web.json_response({"row": check.rows([index])[0], "counts": check.counts()})


async def fixed_file(request: web.Request) -> web.FileResponse:
    draft = draft_of(request)
    path = await asyncio.to_thread(draft.fixed_file, state(request).config.options)
    return attachment(path, f"fixed-{draft.settings.names[0]}")


async def preview_page(request: web.Request) -> web.Response:
    """Step 4: the plan: per row old -> new, what will fail and why; cancels to confirm."""
    from pipeline.ui.preview import preview

    ui = state(request)
    draft = draft_of(request)
    result = await asyncio.to_thread(draft.plan, ui.config.options, env=ui.env)
    shown = preview(result, limit=PAGE_ROWS_MAX)
    return render(request, "preview.html", step="preview", draft=draft, preview=shown)


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
