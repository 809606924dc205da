"""The UI's aiohttp application: its route table and the pages that are no step.

config = UiConfig(runs_dir=Path("runs"), token=new_token(), options=RunOptions())
app = create_app(config, env=Environment())
# serve it on 127.0.0.1; open f"{base_url}/?token={config.token}"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from pipeline.config.settings import Environment, scrub
from pipeline.core.errors import QuivoBulkError
from pipeline.ui.history import list_runs
from pipeline.ui.pages import STATE, UiConfig, UiState, problem, render, state
from pipeline.ui.security import guard
from pipeline.ui.tasks import Tasks

STATIC = Path(__file__).parent / "static"


@web.middleware
async def library_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Library errors become a message on the page, as the CLI turns them into one line."""
    try:
        response: web.StreamResponse = await handler(request)
    except QuivoBulkError as error:
        return problem(request, str(error))
    return response


async def start_page(request: web.Request) -> web.Response:
    config = state(request).config
    runs = list_runs(config.runs_dir)[:5]
    return render(request, "start.html", runs=runs, step="start", jobs=list(config.job_files()))


async def history_page(request: web.Request) -> web.Response:
    ui = state(request)
    runs = list_runs(ui.config.runs_dir)
    running = {info.name for info in runs if ui.tasks.running(info.name)}
    return render(request, "history.html", runs=runs, running=running, step="history")


async def no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


def create_app(config: UiConfig, *, env: Environment) -> web.Application:
    """The application: security first, then library errors as messages, then the routes."""
    from pipeline.ui import draft_views as drafts
    from pipeline.ui import run_views as runs

    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.ui", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    templates.filters["tojson_attr"] = lambda value: json.dumps(value)
    tasks = Tasks(scrub=lambda text: scrub(text, env.credentials().secrets()))
    ui = UiState(config=config, env=env, templates=templates, tasks=tasks, drafts={})
    app = web.Application(
        middlewares=[
            guard(token=config.token),
            library_errors,
        ],
        client_max_size=config.max_upload_bytes,
    )
    app[STATE] = ui
    app.router.add_routes(
        [
            web.get("/", start_page),
            web.get("/runs", history_page),
            web.get("/favicon.ico", no_icon),
            # Steps 1-4: a draft, before it is sent.
            web.post("/upload", drafts.upload),
            web.get("/draft/{name}/columns", drafts.columns_page),
            web.post("/draft/{name}/columns", drafts.save_columns),
            web.get("/draft/{name}/check", drafts.check_page),
            web.get("/draft/{name}/rows", drafts.grid_rows),
            web.post("/draft/{name}/cell", drafts.edit_cell),
            web.post("/draft/{name}/hidden", drafts.hidden_rows),
            web.get("/draft/{name}/fixed", drafts.fixed_file),
            web.get("/draft/{name}/preview", drafts.preview_page),
            web.get("/draft/{name}/preview/events", drafts.preview_events),
            web.post("/draft/{name}/preview/stop", drafts.preview_stop),
            web.post("/draft/{name}/preview/again", drafts.preview_again),
            web.post("/draft/{name}/send", drafts.send),
            web.post("/draft/{name}/delete", drafts.delete),
            # Steps 5-7: a run, made here or by the CLI.
            web.get("/run/{name}", runs.results_page),
            web.get("/run/{name}/send", runs.send_page),
            web.get("/run/{name}/events", runs.events),
            web.post("/run/{name}/stop", runs.stop),
            web.get("/run/{name}/rows", runs.result_rows),
            web.get("/run/{name}/download/{file}", runs.download),
            web.post("/run/{name}/resume", runs.resume),
            web.post("/run/{name}/rerun", runs.rerun),
            web.post("/run/{name}/replan", runs.replan),
            web.get("/run/{name}/undo", runs.undo_page),
            web.post("/run/{name}/undo", runs.undo),
        ]
    )
    app.router.add_static("/static", STATIC)
    return app
