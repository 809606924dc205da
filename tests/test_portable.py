"""The package imports and runs where there is no `fcntl` (Windows): a job against the
sandbox from a process in which `import fcntl` fails, and the run directory's lock still
refuses a second holder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.sandbox import SandboxThread
from tests.conftest import REPO, SAMPLE_DATA, state_of
from tests.test_cli import cli_env

WITHOUT_FCNTL = """
import sys
sys.modules["fcntl"] = None  # as on Windows: `import fcntl` raises ImportError
from pathlib import Path
from pipeline.core.errors import RunDirError
from pipeline.store.rundir import run_lock

held = Path(sys.argv[1])
held.mkdir()
with run_lock(held):
    try:
        with run_lock(held):
            raise SystemExit("a second holder got the lock")
    except RunDirError as error:
        print("refused:", error)
with run_lock(held):
    print("taken again after release")
from pipeline.cli import main
assert sys.modules["fcntl"] is None
main(sys.argv[2:])
"""


@pytest.mark.slow  # a fresh interpreter imports the package: ~5 s
def test_a_job_runs_without_fcntl(sandbox: SandboxThread, tmp_path: Path) -> None:
    job = tmp_path / "cancels.toml"
    job.write_text(
        f'input = "{SAMPLE_DATA / "cancellations.parquet"}"\naction = "cancel"\n'
        f'assume_yes = true\nrate = 500\nconcurrency = 8\nruns_dir = "{tmp_path / "runs"}"\n'
    )
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_FCNTL, str(tmp_path / "held"), "run", "--job", str(job),
         "--out", str(out), "--quiet"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
        env={**os.environ, **cli_env(sandbox)},
    )  # fmt: skip
    assert "refused:" in done.stdout
    assert "in use by another quivo-bulk" in done.stdout
    assert "taken again after release" in done.stdout
    assert done.returncode in (0, 1), done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] > 0
    assert state_of(sandbox).stats.accepted_mutations  # the cancels reached the API
