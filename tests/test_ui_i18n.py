"""German and English pages: the catalogue is complete, the browser's language is
followed, the switch is remembered, runs and times are named in words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from pipeline.sandbox import SandboxThread
from pipeline.ui.history import run_label
from pipeline.ui.i18n import LOCALE_DIR, pick_language
from tests.conftest import env_for, options_for
from tests.ui_helpers import running_ui

ROOT = Path(__file__).resolve().parent.parent


def test_every_message_of_the_ui_has_its_german_text() -> None:
    found = {
        message
        for _, _, message, _, _ in extract_from_dir(
            ROOT,
            method_map=[
                ("pipeline/ui/**.py", "python"),
                ("pipeline/ui/templates/**.html", "jinja2"),
            ],
            keywords={"_": None, "N_": None, "n_": (1, 2)},
        )
    }
    with (LOCALE_DIR / "de" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalog = read_po(source, locale="de")
    untranslated = [
        m for m in found if not catalog.get(m) or not catalog.get(m).string or catalog.get(m).fuzzy
    ]
    assert untranslated == [], "run 'make i18n' and translate these in messages.po"
    assert len(found) > 150


@pytest.mark.parametrize(
    ("accept", "cookie", "asked", "shown"),
    [
        ("de-AT,de;q=0.9,en;q=0.8", None, None, "de"),
        ("en-US,en;q=0.9", None, None, "en"),
        ("fr-FR", None, None, "en"),
        ("en-US", "de", None, "de"),
        ("de-DE", "de", "en", "en"),
    ],
)
def test_the_language_is_asked_then_remembered_then_the_browsers(
    accept: str, cookie: str | None, asked: str | None, shown: str
) -> None:
    assert pick_language(asked=asked, cookie=cookie, accept=accept) == shown


def test_runs_are_named_for_what_they_are() -> None:
    undo = run_label("20261204T153402Z-undo-20261204T152907Z-Bestellungen_Dezember")
    assert undo == {"kind": "undo", "file": "Bestellungen_Dezember", "at": "2026-12-04T15:34:02Z"}
    assert run_label("20261204T152907Z-Bestellungen_Dezember")["kind"] == "run"


@pytest.fixture
async def client(sandbox: SandboxThread, tmp_path: Path) -> AsyncIterator[tuple[str, object]]:
    with running_ui(tmp_path / "runs", options=options_for(sandbox), env=env_for(sandbox)) as (
        url,
        token,
    ):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(f"{url}/?token={token}"):
                pass
            yield url, session


async def test_pages_speak_the_browsers_language_and_the_switch_is_kept(
    client: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = client
    german = {"Accept-Language": "de-AT,de;q=0.9"}
    async with session.get(f"{url}/", headers=german) as answer:
        page = await answer.text()
    assert '<html lang="de">' in page
    assert "Datei mit Ihren Änderungen wählen" in page
    async with session.get(f"{url}/runs?lang=en", headers=german) as answer:
        assert "History: runs under" in await answer.text()
    async with session.get(f"{url}/", headers=german) as answer:  # the switch is remembered
        assert "Start: pick the file with your changes" in await answer.text()
