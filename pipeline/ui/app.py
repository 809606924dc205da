"""The UI's aiohttp application: configuration, rendering, and the route table.

config = UiConfig(runs_dir=Path("runs"), token=new_token(), options=RunOptions())
app = create_app(config, env=Environment())
# serve it on 127.0.0.1; open f"{base_url}/?token={config.token}"
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from pipeline.config.settings import Environment, RunOptions, scrub
from pipeline.core.errors import QuivoBulkError
from pipeline.ui.drafts import Draft
from pipeline.ui.history import CONTENT_TYPES, list_runs
from pipeline.ui.security import HEADER, guard
from pipeline.ui.tasks import Tasks

STATIC = Path(__file__).parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024
PAGE_ROWS_MAX = 500  # rows per window of a grid (check, results)


@dataclass(frozen=True, kw_only=True)
class UiConfig:
    """How the UI serves: where runs go, its token, the API options runs start from."""

    runs_dir: Path
    token: str
    options: RunOptions
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    jobs_dir: Path = Path("jobs")  # job files offered on the start page

    def job_files(self) -> dict[str, Path]:
        """The job files the start page offers, by name: the only ones it opens."""
        if not self.jobs_dir.is_dir():
            return {}
        return {path.name: path for path in sorted(self.jobs_dir.glob("*.toml"))}


@dataclass
class UiState:
    config: UiConfig
    env: Environment
    templates: jinja2.Environment
    tasks: Tasks
    drafts: dict[str, Draft]


STATE = web.AppKey("quivo_ui_state", UiState)


def state(request: web.Request) -> UiState:
    return request.app[STATE]


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A page from `templates/`; every page carries the token for its POSTs (never a secret)."""
    ui = state(request)
    page = ui.templates.get_template(template).render(
        token=ui.config.token,
        header=HEADER,
        runs_dir=str(ui.config.runs_dir),
        api=ui.config.options.api.base_url,  # no credentials in it: check_base_url refuses them
        **context,
    )
    return web.Response(text=page, status=status, content_type="text/html")


def problem(request: web.Request, message: str, *, status: int = 400) -> web.Response:
    """A run-level fault as a page (or JSON for the page's scripts): one line to act on."""
    message = scrub(message, state(request).env.credentials().secrets())
    if request.headers.get("Accept", "").startswith("application/json") or request.method != "GET":
        return web.json_response({"error": message}, status=status)
    return render(request, "problem.html", status=status, message=message)


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


def json_body(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return data


def grid_window(request: web.Request) -> tuple[int, int, bool]:
    """A grid's window from the query: (offset, limit, errors only); limit 1..PAGE_ROWS_MAX."""
    try:
        offset = max(int(request.query.get("offset", "0")), 0)
        limit = min(max(int(request.query.get("limit", "100")), 1), PAGE_ROWS_MAX)
    except ValueError:
        raise web.HTTPBadRequest(text="offset and limit are numbers") from None
    return offset, limit, request.query.get("errors") == "1"


def attachment(path: Path, name: str) -> web.FileResponse:
    """`path` as a download called `name`, typed by its suffix."""
    kind = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return web.FileResponse(
        path,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Type": kind},
    )


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
            web.get("/draft/{name}/fixed", drafts.fixed_file),
            web.get("/draft/{name}/preview", drafts.preview_page),
            web.post("/draft/{name}/send", drafts.send),
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
            web.post("/run/{name}/undo", runs.undo),
        ]
    )
    app.router.add_static("/static", STATIC)
    return app
