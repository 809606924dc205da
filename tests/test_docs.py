"""The documentation (docs/, built by `make docs`) stays true and buildable.

- Every example block of docs/ (```sh, ```cron, ```python, ```toml) is run or checked by a
  named test, which reads that page; a block no test runs needs a reason in NOT_RUN.
- `mkdocs build --strict` passes: no broken link or anchor, no page left out of the nav.
- The README stays a short door: under 12 KB, and every page it links to exists.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.readme import DOCS, HEADING, pages

EXAMPLE_KINDS = ("sh", "cron", "python", "toml")

# (page, the heading the block stands under, its kind) -> the test that runs it as printed
RUN_BY: dict[tuple[str, str, str], str] = {
    (
        "docs/guide/operations.md",
        "## Try it: correct addresses from a spreadsheet against the sandbox",
        "sh",
    ): "tests/test_readme_try_it.py::test_the_try_it_block_runs_as_printed_and_its_counts_are_true",
    (
        "docs/guide/nightly.md",
        "## The nightly sweep",
        "cron",
    ): "tests/test_cron.py::test_the_printed_crontab_line_works_on_a_fresh_clone",
    (
        "docs/guide/notebook.md",
        "## From a notebook",
        "python",
    ): "tests/test_notebook.py::test_the_notebook_example_runs_as_printed",
    (
        "docs/plan-apply-undo.md",
        "# Before you send: plan, apply, undo",
        "sh",
    ): "tests/test_readme_plan.py::test_the_worked_example_runs_as_printed",
    (
        "docs/plan-apply-undo.md",
        "## From Python",
        "python",
    ): "tests/test_readme_plan.py::test_the_python_snippet_runs_as_printed",
    (
        "docs/api.md",
        "# Assumptions about the API",
        "toml",
    ): "tests/test_readme_profile.py::test_the_api_table_example_sets_the_profile",
    (
        "docs/api.md",
        "## Before the first real run",
        "sh",
    ): "tests/test_readme_profile.py::test_the_first_run_advice_runs_as_printed",
    (
        "docs/rates.md",
        "# Rates: a count per period, or `--rate auto`",
        "sh",
    ): "tests/test_readme_rates.py::test_the_rate_examples_run_as_printed",
    (
        "docs/sandbox.md",
        "# The sandbox",
        "sh",
    ): "tests/test_readme_profile.py::test_the_sandbox_example_serves_the_sample_orders",
    **{
        ("docs/reference/commands.md", f"## `quivo-bulk {command}`", "sh"): test
        for command, test in {
            "run": "tests/test_readme_commands.py::test_run_examples",
            "validate": "tests/test_readme_commands.py::test_validate_example",
            "plan": "tests/test_readme_commands.py::test_plan_apply_and_undo_examples",
            "apply": "tests/test_readme_commands.py::test_plan_apply_and_undo_examples",
            "undo": "tests/test_readme_commands.py::test_plan_apply_and_undo_examples",
            "resume": "tests/test_readme_commands.py::test_resume_and_rerun_examples",
            "rerun": "tests/test_readme_commands.py::test_resume_and_rerun_examples",
            "followup": "tests/test_readme_commands.py::test_resume_and_rerun_examples",
            "report": "tests/test_readme_commands.py::test_report_examples",
            "doctor": "tests/test_readme_profile.py::test_the_doctor_examples_run_as_printed",
            "demo": "tests/test_readme_commands.py::test_demo_example",
            "ui": "tests/test_ui_runs.py::test_the_printed_example_serves_its_printed_url",
        }.items()
    },
}

# Example blocks no test runs, each with the reason.
NOT_RUN: dict[tuple[str, str, str], str] = {}


def example_blocks() -> list[tuple[str, str, str]]:
    """Every example block of docs/: (page, the heading above it, its kind)."""
    found = []
    for page in pages():
        heading = ""
        fenced = False
        for line in page.read_text().splitlines():
            if line.startswith("```"):
                if not fenced and line[3:].strip() in EXAMPLE_KINDS:
                    found.append((page.relative_to(REPO).as_posix(), heading, line[3:].strip()))
                fenced = not fenced
            elif not fenced and HEADING.match(line):
                heading = line
    return found


def test_every_example_in_the_docs_is_run_by_a_test() -> None:
    blocks = example_blocks()
    assert len(blocks) >= len(RUN_BY), "fewer example blocks than the table names"
    not_run = [block for block in blocks if block not in RUN_BY and block not in NOT_RUN]
    assert not_run == [], "name the test that runs each of these blocks in RUN_BY"
    gone = [block for block in [*RUN_BY, *NOT_RUN] if block not in blocks]
    assert gone == [], "these blocks are no longer in docs/: update RUN_BY / NOT_RUN"


@pytest.mark.parametrize("node", sorted(set(RUN_BY.values())))
def test_each_named_test_exists_and_reads_its_page(node: str) -> None:
    """A test named in RUN_BY is a test function of its file, and that file reads every
    page whose blocks it is named for (its path is a string in the code, not a docstring)."""
    path, name = node.split("::")
    tree = ast.parse((REPO / path).read_text())
    functions = {item.name for item in tree.body if isinstance(item, ast.FunctionDef)}
    assert name in functions, node
    documented = [item for item in ast.walk(tree) if isinstance(item, ast.Module | ast.FunctionDef)]
    docstrings = {ast.get_docstring(item, clean=False) for item in documented}
    strings = {
        item.value
        for item in ast.walk(tree)
        if isinstance(item, ast.Constant) and isinstance(item.value, str)
    } - docstrings
    for page, _, _ in [block for block, test in RUN_BY.items() if test == node]:
        assert page in strings, f"{path} does not read {page} (a string in its code)"


def test_mkdocs_builds_strict(tmp_path: Path) -> None:
    """`make docs`'s build, into a scratch folder: a broken link, a missing anchor or a
    page outside the nav fails it."""
    mkdocs = Path(sys.executable).parent / "mkdocs"
    assert mkdocs.exists(), "mkdocs is not installed: `make install` installs the docs extra"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    built = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("*")}
    for page in pages():
        html = page.relative_to(DOCS).with_suffix("").as_posix()
        expected = "index.html" if html == "index" else f"{html}/index.html"
        assert expected in built, page


def test_the_readme_is_a_short_door() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) < 12 * 1024
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if "://" not in link]
    assert local, "the README links into docs/"
    missing = [link for link in local if not (REPO / link).exists()]
    assert missing == []


def test_the_code_cites_only_documents_in_the_repository() -> None:
    """Comments and docstrings cite docs pages that exist, never the spec or style guide
    kept outside the repository."""
    outside = re.compile("SPEC " + "§|STYLE " + r"\d")
    cited = re.compile(r"docs/[\w/.-]+?\.md")
    wrong, missing = [], []
    for path in sorted([*(REPO / "pipeline").rglob("*.py"), *(REPO / "tests").rglob("*.py")]):
        text = path.read_text()
        name = path.relative_to(REPO).as_posix()
        wrong += [name for _ in outside.finditer(text)]
        missing += [f"{name}: {page}" for page in cited.findall(text) if not (REPO / page).exists()]
    assert wrong == []
    assert missing == []
