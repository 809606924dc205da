"""The "Try it" walk-through, run as printed: sandbox, address run, rerun of errors.csv.

The operations guide (docs/guide/operations.md) prints it, and the README prints the
same block as its first run.

The block runs in a scratch folder that links the repository's `.venv/`, `sample_data/`,
`Makefile` and `pyproject.toml`, so its relative paths and `runs/fixes` work as
printed without touching the repository's own `runs/`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import REPO
from tests.readme import blocks, section

PORT = 8787  # the block's own port


GUIDE = "docs/guide/operations.md"


def try_it_block() -> str:
    return blocks(section("## Try it", page=GUIDE), "sh")[0]


def test_the_readme_first_run_is_the_guide_s_try_it_block() -> None:
    """The README's first run is the block the slow test below runs as printed."""
    [first_run] = blocks(section("## A first run", page="README.md"), "sh")
    assert first_run == try_it_block()


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_the_try_it_block_runs_as_printed_and_its_counts_are_true(tmp_path: Path) -> None:
    if not port_is_free(PORT):
        pytest.skip(f"port {PORT} is taken; the guide's block uses it as printed")
    for name in (".venv", "sample_data", "Makefile", "pyproject.toml"):
        (tmp_path / name).symlink_to(REPO / name)
    block = try_it_block()
    script = (
        "set -u\n"
        "trap 'kill %1 2>/dev/null' EXIT\n"
        # the block backgrounds the sandbox and goes on at once: wait until it listens
        + block.replace(
            "--port 8787 &\n",
            "--port 8787 &\n"
            "for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/8787) 2>/dev/null && break;"
            " sleep 0.1; done\n",
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIVO_")}
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        start_new_session=True,
    )
    output = done.stdout + done.stderr
    assert (tmp_path / "runs" / "fixes" / "results.parquet").exists(), output
    assert (tmp_path / "runs" / "fixes-2" / "results.parquet").exists(), output

    # The comment's counts are what the first run reports.
    promised = re.search(r"summary table: (.*?); exit code (\d)", block)
    assert promised is not None
    outcomes = pl.read_parquet(tmp_path / "runs" / "fixes" / "results.parquet")["outcome"]
    counts = outcomes.value_counts()
    actual = dict(zip(counts["outcome"], counts["count"], strict=True))
    for part in promised.group(1).split(", "):
        number, outcome = part.split(" ", 1)
        assert actual.get(outcome) == int(number), (part, actual)
    assert sum(int(p.split(" ")[0]) for p in promised.group(1).split(", ")) == len(outcomes)
    # The rerun of errors.csv reads every row of it back.
    errors_csv = tmp_path / "runs" / "fixes" / "errors.csv"
    separator = ";" if ";" in errors_csv.read_text().splitlines()[0] else ","
    errors = pl.read_csv(errors_csv, separator=separator, infer_schema=False)
    again = pl.read_parquet(tmp_path / "runs" / "fixes-2" / "results.parquet")
    assert again.height == errors.height
