"""What every page of the UI shares: its configuration and state, the language, rendering
a template, problems as messages, grid windows and downloads.

    render(request, "check.html", step="check", draft=draft)
    tr(request).gettext("Send")   # in the page's language
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from pipeline.config.settings import Environment, RunOptions, scrub
from pipeline.ui.drafts import Draft
from pipeline.ui.history import CONTENT_TYPES
from pipeline.ui.i18n import COOKIE, LANGUAGES, NAMES, pick_language, translations_for
from pipeline.ui.security import HEADER
from pipeline.ui.tasks import Tasks

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


def language(request: web.Request) -> str:
    """The page's language: `?lang=`, the switch's cookie, or the browser's Accept-Language."""
    return pick_language(
        asked=request.query.get("lang"),
        cookie=request.cookies.get(COOKIE),
        accept=request.headers.get("Accept-Language", ""),
    )


def tr(request: web.Request) -> gettext.NullTranslations:
    """The translations of the request's language (for JSON answers and messages)."""
    return translations_for(language(request))


def when(value: str | None) -> Markup:
    """A UTC time as a <time> the page's script shows in the browser's time zone."""
    if not value:
        return Markup("")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return Markup(escape(value))
    iso = moment.isoformat().replace("+00:00", "Z")
    shown = f"{moment.day} {moment:%b %H:%M} UTC"
    return Markup('<time datetime="{}">{}</time>').format(iso, shown)


def page_words(translations: gettext.NullTranslations) -> dict[str, Any]:
    """The helpers every template gets: `_`, codes in words, run names in words."""
    from pipeline.ui import words
    from pipeline.ui.history import run_label

    def _(message: str, **values: Any) -> str:
        text = translations.gettext(message)
        return text % values if values else text

    def n_(singular: str, plural: str, count: int, **values: Any) -> str:
        return translations.ngettext(singular, plural, count) % ({"count": count} | values)

    def word(table: dict[str, str], code: str | None) -> str:
        if code is None:
            return ""
        return translations.gettext(table[code]) if code in table else code

    def title(name: str) -> Markup:
        label = run_label(name)
        text = _(words.KINDS.get(label["kind"], words.KINDS["run"]), file=label["file"])
        stamp = when(label["at"])
        return Markup("{}, {}").format(text, stamp) if stamp else Markup(escape(text))

    return {
        "_": _,
        "n_": n_,
        "outcome": lambda code: word(words.OUTCOMES, code),
        "prediction": lambda code: word(words.PREDICTIONS, code),
        "state_word": lambda code: word(words.STATES, code),
        "sentence": lambda code: word(words.SENTENCES, code),
        "field_word": lambda code: word(words.FIELDS, code),
        "address_type_word": lambda code: word(words.ADDRESS_TYPES, code),
        "action_word": lambda code: word(words.ACTIONS, code),
        "column_word": lambda code: word(words.COLUMNS, code),
        "title": title,
        "when": when,
    }


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A page from `templates/`; every page carries the token for its POSTs (never a secret)."""
    ui = state(request)
    lang = language(request)
    page = ui.templates.get_template(template).render(
        token=ui.config.token,
        header=HEADER,
        runs_dir=str(ui.config.runs_dir),
        api=ui.config.options.api.base_url,  # no credentials in it: check_base_url refuses them
        lang=lang,
        languages=NAMES,
        path=request.path,
        **page_words(translations_for(lang)),
        **context,
    )
    response = web.Response(text=page, status=status, content_type="text/html")
    if request.query.get("lang") in LANGUAGES:  # the switch: remembered for the next pages
        response.set_cookie(COOKIE, lang, samesite="Strict", httponly=True, max_age=31536000)
    return response


def problem(request: web.Request, message: str, *, status: int = 400) -> web.Response:
    """A run-level fault as a page (or JSON for the page's scripts): one line to act on."""
    message = scrub(message, state(request).env.credentials().secrets())
    if request.headers.get("Accept", "").startswith("application/json") or request.method != "GET":
        return web.json_response({"error": message}, status=status)
    return render(request, "problem.html", status=status, message=message)


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
