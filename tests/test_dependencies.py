"""The requested stack, honestly: every runtime dependency is one the package imports
(docs/design/decisions.md, "Requested libraries")."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

from tests.conftest import REPO


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0] for spec in project["dependencies"]]
    modules_of: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            modules_of.setdefault(dist.lower().replace("_", "-"), set()).add(module)
    sources = "\n".join(p.read_text() for p in (REPO / "pipeline").rglob("*.py"))
    unused = [
        name
        for name in names
        if not any(
            re.search(rf"^\s*(import|from) {re.escape(module)}\b", sources, re.MULTILINE)
            for module in modules_of.get(name.lower().replace("_", "-"), {name})
        )
    ]
    assert unused == [], f"runtime dependencies nothing in pipeline/ imports: {unused}"


def test_the_design_doc_gives_the_measured_reason() -> None:
    design = (REPO / "docs" / "design" / "decisions.md").read_text()
    section = design.split("## Requested libraries", 1)[1]
    assert "AsyncLimiter(rate, 1)" in section
    assert "88.0 %" in section
    assert "101" in section
