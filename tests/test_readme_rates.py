"""docs/rates.md: each command run as printed, against the sandbox."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.sandbox import SandboxThread
from tests.conftest import SAMPLE_DATA
from tests.readme import blocks, text_of
from tests.test_cli import cli_env


def rate_commands() -> list[str]:
    block = blocks(text_of("docs/rates.md"), "sh")[0]
    return [line for line in block.splitlines() if line.strip()]


EXPECTED = {  # the rate each example asks for, as summary.json keeps it
    "600/min": {"auto": False, "limit_per_s": 10.0, "period_s": 60.0},
    "12.5": {"auto": False, "limit_per_s": 12.5, "period_s": 2.0},
    "auto:200": {"auto": True, "limit_per_s": 200.0, "period_s": 1.0},
}


@pytest.mark.slow
def test_the_rate_examples_run_as_printed(
    sandbox: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = rate_commands()
    assert len(commands) == len(EXPECTED)
    for number, command in enumerate(commands):
        words = shlex.split(command)
        assert words[0] == "quivo-bulk"
        folder = tmp_path / str(number)
        shutil.copytree(SAMPLE_DATA, folder / "sample_data")
        monkeypatch.chdir(folder)
        result = CliRunner().invoke(main, words[1:], env=cli_env(sandbox))
        assert result.exit_code == 1, (command, result.output)  # the sample has bad rows
        summary = json.loads(
            (folder / words[words.index("--out") + 1] / "summary.json").read_text()
        )
        rate = words[words.index("--rate") + 1]
        assert {k: summary["rate"][k] for k in EXPECTED[rate]} == EXPECTED[rate]
        if EXPECTED[rate]["auto"]:
            assert "rate found" in result.output
            assert summary["rate"]["found_per_s"] > 5
