"""German and English pages: Babel's gettext catalogues, picked per request.

The language is the `lang` cookie (set by the switch in the page header, `?lang=de`)
or else the browser's Accept-Language; English when neither names one we have.
The German catalogue is `locale/de/LC_MESSAGES/messages.po`, compiled in memory
when the UI starts (no build step); `make i18n` extracts new strings into it.

    translations = translations_for("de")
    translations.gettext("Check")   # "Prüfen"
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "de")
NAMES = {"en": "English", "de": "Deutsch"}
COOKIE = "quivo_lang"


def N_(message: str) -> str:
    """Mark `message` for the catalogue; it is translated where it is shown."""
    return message


@functools.cache
def translations_for(language: str) -> gettext.NullTranslations:
    """The catalogue of `language` (English: the messages as written)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def pick_language(*, asked: str | None, cookie: str | None, accept: str) -> str:
    """The page's language: asked (`?lang=`), else the cookie, else Accept-Language."""
    for given in (asked, cookie):
        if given in LANGUAGES:
            return given
    preferred = []
    for part in accept.split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            weight = 0.0
        if tag:
            preferred.append((weight, tag.strip().replace("-", "_")))
    ordered = [tag for _, tag in sorted(preferred, key=lambda p: -p[0])]
    try:
        found = Locale.negotiate(ordered, list(LANGUAGES), sep="_")
    except (UnknownLocaleError, ValueError):
        found = None
    return found.language if found is not None else "en"
