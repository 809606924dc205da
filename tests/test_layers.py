"""The package's shape is checked, not hoped for (docs/design/code-map.md).

Imports point one way: down this list of layers, never up, and no module takes
part in an import cycle, not even through an import inside a function. The
sandbox is an honest fake and shares no code with the client but the country
data both read from their own libraries. Every module keeps to one job, which
here means at most 400 lines.
"""

from __future__ import annotations

import grimp
import pytest

from tests.conftest import REPO

# Highest first: a layer may import the layers below it, never one above.
LAYERS = (
    "pipeline.cli",
    "pipeline.ui",
    "pipeline.flows",
    "pipeline.send",
    "pipeline.plan",
    "pipeline.reports",
    "pipeline.store",
    "pipeline.config",
    "pipeline.inputs",
    "pipeline.api",
    "pipeline.core",
)
MAX_LINES = 400


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("pipeline", exclude_type_checking_imports=True)


def _layer(module: str) -> str | None:
    return next(
        (layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), None
    )


def test_imports_point_down_the_layers(graph: grimp.ImportGraph) -> None:
    upward = []
    for module in sorted(graph.modules):
        here = _layer(module)
        if here is None:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            there = _layer(imported)
            if there is not None and LAYERS.index(there) < LAYERS.index(here):
                upward.append(f"{module} -> {imported}")
    assert upward == []


def test_no_module_is_part_of_an_import_cycle(graph: grimp.ImportGraph) -> None:
    # Tarjan's strongly connected components over the module graph.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_sandbox_and_the_client_share_no_code(graph: grimp.ImportGraph) -> None:
    shared = [
        f"{module} -> {imported}"
        for module in sorted(graph.modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if (module.startswith("pipeline.sandbox")) != (imported.startswith("pipeline.sandbox"))
        and not module.startswith("pipeline.cli")
        and imported != "pipeline"
    ]
    assert shared == []


def test_every_module_keeps_to_one_job() -> None:
    long = {
        path.relative_to(REPO).as_posix(): lines
        for path in (REPO / "pipeline").rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
