"""Each rule has one definition: transient error codes, the sandbox's own country table,
secret scrubbing, and where the garbage collector is frozen (docs/design/decisions.md)."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
from pathlib import Path

from pipeline.cli.common import REDACTOR
from pipeline.cli.show import next_step
from pipeline.config.settings import RunOptions, scrub
from pipeline.core.manifest import RunSummary
from pipeline.core.outcomes import TRANSIENT_ERROR_CODES, ErrorCode
from pipeline.plan.prepare import prepare
from tests.conftest import REPO, SAMPLE_DATA


def test_aborted_rows_are_transient_for_the_next_step_as_for_rerun(tmp_path: Path) -> None:
    """`rerun` sends aborted rows again; the run's last line must say so, not stay silent."""
    assert ErrorCode.ABORTED in TRANSIENT_ERROR_CODES
    summary = RunSummary(
        command="run", run_dir=str(tmp_path), rows=2, outcomes={"failed": 2},
        error_codes={"aborted": 2}, requests=2, stopped=None, exit_code=1, finished_at="",
    )  # fmt: skip
    step = next_step(summary, tmp_path)
    assert step is not None
    assert f"quivo-bulk rerun {tmp_path}" in step
    assert "fix the rows" not in step


def test_the_sandbox_imports_nothing_of_the_client() -> None:
    """An honest fake checks the client with its own rules, not with the client's code."""
    imported = []
    for path in (REPO / "pipeline" / "sandbox").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            imported += [
                f"{path.name}: {name}"
                for name in names
                if name.startswith("pipeline.") and not name.startswith("pipeline.sandbox")
            ]
    assert imported == []


def test_the_cli_and_the_ui_scrub_secrets_alike() -> None:
    from pipeline.ui import app

    REDACTOR.secrets = ["s3cr3t-value", "abc"]
    try:
        text = "login failed for s3cr3t-value (abc)"
        assert REDACTOR.scrub(text) == scrub(text, REDACTOR.secrets)
        assert scrub(text, REDACTOR.secrets) == "login failed for *** (abc)"
        assert app.scrub is scrub
    finally:
        REDACTOR.secrets = []


def test_the_library_freezes_no_objects() -> None:
    """A notebook or the UI prepares many times in one process: nothing it made may be
    frozen out of the collector for the life of the process."""
    before = gc.get_freeze_count()
    prepare([SAMPLE_DATA / "address-corrections.csv"], options=RunOptions(action="address"))
    assert gc.get_freeze_count() == before


CLI_PROCESS = """
import atexit, gc, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count()))
from pipeline.cli import entry
sys.argv = ["quivo-bulk", "validate", sys.argv[1], "--action", "address", "--out", sys.argv[2]]
entry()
"""


def test_the_command_freezes_its_row_objects(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLI_PROCESS, str(SAMPLE_DATA / "address-corrections.csv"),
         str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    frozen = int(done.stdout.rsplit("frozen", 1)[1])
    assert frozen > 0, done.stderr
