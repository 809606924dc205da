"""The documentation as the tests read it: a page's sections and the code blocks they print.

Every example the documentation (README.md and the pages of docs/) prints is run by a
test as printed; these helpers find it.

    [commands] = blocks(section("## Try it", page="docs/guide/operations.md"), "sh")
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"

HEADING = re.compile(r"(#{1,6}) ")


def text_of(page: str) -> str:
    """A page of the documentation, named by its path in the repository."""
    return (REPO / page).read_text()


def pages() -> list[Path]:
    """Every page of docs/, in path order."""
    return sorted(DOCS.rglob("*.md"))


def section(title: str, *, page: str) -> str:
    """From the heading that starts with `title` to the next heading of the same or a
    higher level (or the end of the page). Lines in fenced code blocks (a `# comment`
    in a shell block) are not headings."""
    level = len(title) - len(title.lstrip("#"))
    assert level, f"a section's title starts with its heading's '#': {title!r}"
    lines = text_of(page).splitlines(keepends=True)
    start = None
    fenced = False
    for number, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
            continue
        heading = None if fenced else HEADING.match(line)
        if start is None:
            if heading and line.startswith(title):
                start = number
        elif heading and len(heading.group(1)) <= level:
            return "".join(lines[start:number])
    if start is None:
        raise ValueError(f"{page} has no heading {title!r}")
    return "".join(lines[start:])


def blocks(text: str, kind: str) -> list[str]:
    """The fenced ```kind blocks of `text`, in order."""
    return re.findall(rf"```{kind}\n(.*?)```", text, flags=re.DOTALL)
