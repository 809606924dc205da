"""The README as the tests read it: its sections and the code blocks they print.

Every example the README prints is run by a test as printed; these helpers find it.

    [commands] = blocks(section("## Try it"), "sh")
"""

from __future__ import annotations

import re

from tests.conftest import REPO

README = REPO / "README.md"


def section(title: str) -> str:
    """From the heading `title` to the next second-level heading (or the end)."""
    text = README.read_text()
    start = text.index(title)
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def blocks(text: str, kind: str) -> list[str]:
    """The fenced ```kind blocks of `text`, in order."""
    return re.findall(rf"```{kind}\n(.*?)```", text, flags=re.DOTALL)
