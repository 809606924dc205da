"""MkDocs hooks for `make docs`.

The pages escape a pipe inside a table cell's code (`update\\|address\\|cancel`), as
GitHub needs; Python-Markdown keeps the backslash, so it is dropped from the HTML.
"""

from __future__ import annotations

from typing import Any


def on_page_content(html: str, **_: Any) -> str:
    return html.replace("\\|", "|")
