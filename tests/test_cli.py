"""The command line: help, exit codes, one-line errors, secrets, Ctrl-C, the rate window."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.sandbox import SandboxConfig, SandboxThread
from pipeline.sandbox.state import Stats
from tests.conftest import (
    API_KEY,
    ARRIVAL_JITTER_S,
    PASSWORD,
    REPO,
    SAMPLE_DATA,
    USERNAME,
    most_in_any_window,
    order_ids,
    send_stamps,
    state_of,
)
from tests.readme import pages, section, text_of

KEY_MARKER = "KEY-MARKER-7f3a9c"
PASSWORD_MARKER = "PW-MARKER-51d2e8"


def cli_env(
    sandbox: SandboxThread, *, key: str = API_KEY, password: str = PASSWORD
) -> dict[str, str]:
    return {
        "QUIVO_BASE_URL": sandbox.base_url,
        "QUIVO_API_KEY": key,
        "QUIVO_USERNAME": USERNAME,
        "QUIVO_PASSWORD": password,
    }


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def reference_section_of(command: str) -> str:
    """A command's section of docs/reference/commands.md (`## quivo-bulk CMD`); the
    sandbox's options are on their own page, docs/sandbox.md."""
    if command == "sandbox":
        return text_of("docs/sandbox.md")
    return section(f"## `quivo-bulk {command}`", page="docs/reference/commands.md")


def examples_in(readme: str) -> list[str]:
    """Where the documentation shows an option in use: command lines (in sh/cron blocks
    and inline code) and the `e.g.` of an option table's row."""
    code = re.findall(r"```(?:sh|cron)\n(.*?)```", readme, flags=re.DOTALL)
    lines = [line for block in code for line in block.splitlines() if "quivo-bulk" in line]
    lines += re.findall(r"`((?:\.venv/bin/)?quivo-bulk [^`]*)`", readme)
    rows = [line for line in readme.splitlines() if line.startswith("| `-") and "e.g." in line]
    return lines + rows


def long_options(command: click.Command) -> list[str]:
    return [
        name
        for param in command.params
        if isinstance(param, click.Option)
        for name in param.opts
        if name.startswith("--") and name != "--help"
    ]


def test_every_option_of_every_command_is_in_its_reference_section_with_an_example() -> None:
    docs = "\n".join(page.read_text() for page in [REPO / "README.md", *pages()])
    examples = examples_in(docs)

    def named(option: str, text: str) -> bool:
        return re.search(re.escape(option) + r"(?![\w-])", text) is not None

    missing = [
        f"{command} {option}: {'no example' if in_section else 'not in its section'}"
        for command, options in [
            ("", long_options(main)),
            *((name, long_options(cmd)) for name, cmd in sorted(main.commands.items())),
        ]
        for option in options
        for in_section in [not command or named(option, reference_section_of(command))]
        if not (in_section and any(named(option, example) for example in examples))
    ]
    assert missing == []


def test_run_prints_the_summary_and_exits_1_when_rows_failed(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(SAMPLE_DATA / "mixed-changes.xlsx"),
            "--out",
            str(out),
            "--rate",
            "200",
            "--quiet",
        ],
        env=cli_env(sandbox),
    )
    assert result.exit_code == 1, result.output
    assert "applied" in result.output
    assert f"reports: {out}" in result.output
    report = CliRunner().invoke(main, ["report", str(out)])
    assert report.exit_code == 1
    assert "unchanged" in report.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.csv", "--action", "cancel"], "missing.csv: no such file; check the path"),
        (["run"], "name at least one input file"),
        (
            ["run", str(SAMPLE_DATA / "cancellations.parquet"), "--base-url", "http://example.com"],
            "is not https; plain http is only allowed to loopback",
        ),
        (
            ["validate", str(SAMPLE_DATA / "cancellations.parquet")],
            # a file error, nothing sent (docs/reference/inputs.md)
            "no action column and no --action",
        ),
        (["run", "x.csv", "--job", "nope.toml"], "job file nope.toml: no such file"),
        (["resume", "nowhere"], "no journal"),
        (["report", "nowhere"], "no summary.json"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, args, env={"QUIVO_API_KEY": "dummy-key", "QUIVO_TOKEN": "dummy-token"}
    )
    if message is None:
        assert result.exit_code == 1
        return
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_secrets_never_reach_output_reports_or_the_journal(tmp_path: Path) -> None:
    from pipeline.sandbox import create_app, load_orders

    config = SandboxConfig(api_key=KEY_MARKER, password=PASSWORD_MARKER, cancel_delay_s=60)
    app = create_app(config, orders=load_orders(SAMPLE_DATA / "sandbox_orders.jsonl"))  # fresh
    with SandboxThread(app) as sandbox:
        env = cli_env(sandbox, key=KEY_MARKER, password=PASSWORD_MARKER)
        outputs = []
        for args in (
            ["--log-level", "debug", "run", str(SAMPLE_DATA / "mixed-changes.xlsx"), "--out",
             str(tmp_path / "ok"), "--quiet", "--rate", "200"],
            ["run", str(SAMPLE_DATA / "cancellations.parquet"), "--action", "cancel", "--out",
             str(tmp_path / "refused"), "--quiet", "--rate", "200"],
        ):  # fmt: skip
            outputs.append(CliRunner().invoke(main, args, env=env).output)
        wrong = CliRunner().invoke(
            main,
            ["run", str(SAMPLE_DATA / "cancellations.parquet"), "--action", "cancel", "--out",
             str(tmp_path / "wrong"), "--quiet"],
            env=cli_env(sandbox, key=KEY_MARKER, password="PW-WRONG-MARKER"),
        )  # fmt: skip
        assert wrong.exit_code == 3
        outputs.append(wrong.output)
        tokens = list(state_of(sandbox).tokens)
    assert tokens
    markers = [KEY_MARKER, PASSWORD_MARKER, "PW-WRONG-MARKER", *tokens]
    for output in outputs:
        for marker in markers:
            assert marker not in output
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for marker in markers:
                assert marker.encode() not in data, (path, marker)


@pytest.mark.slow
def test_ctrl_c_stops_sending_and_writes_complete_reports(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    ids = state_of(sandbox).store.ids()[:120]
    path = tmp_path / "cancel.csv"
    path.write_text("orderId\n" + "".join(f"{i}\n" for i in ids))
    out = tmp_path / "run"
    env = {**os.environ, **cli_env(sandbox)}
    with subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(path), "--action", "cancel", "--rate", "20",
         "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:  # fmt: skip
        stderr = ctrl_c_after_cancels(process, state_of(sandbox).stats, 10)  # sending for real
    assert process.returncode == 3, stderr
    assert "interrupted" in stderr
    # The hint is printed once, when the key is pressed; never after the run has ended.
    assert stderr.count("press Ctrl-C again") == 1, stderr
    assert "Ctrl-C again" not in stderr[stderr.index("stopped early") :], stderr
    frame = pl.read_parquet(out / "results.parquet")
    assert frame["row"].to_list() == list(range(2, 122))  # line numbers: the header is line 1
    outcomes = set(frame["outcome"])
    assert "not_attempted" in outcomes
    assert outcomes & {"applied", "unchanged", "failed"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_code"] == 3
    sent = sum(counts.get("cancel", 0) for counts in state_of(sandbox).stats.by_order.values())
    assert sent < 120


@pytest.mark.slow
def test_ctrl_c_at_a_low_rate_refetches_the_answered_changes(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    """docs/design/sending.md's promise at --rate 2, where most requests wait for the pacer: the
    cancels answered before Ctrl-C get their refetch and their real outcome, and resume
    sends none of them again. (The queued requests that were never going to be sent used
    up the pacer's turns, so the refetches missed the 5 s grace: every answered cancel
    was `aborted`, "may have landed", and resume sent it again.)"""
    ids = order_ids(sandbox, "PROCESSING", 40)
    path = tmp_path / "cancel.csv"
    path.write_text("orderId\n" + "".join(f"{i}\n" for i in ids))
    out = tmp_path / "run"
    env = {**os.environ, **cli_env(sandbox)}
    stats = state_of(sandbox).stats
    with subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(path), "--action", "cancel", "--yes",
         "--rate", "2", "--out", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        stderr = ctrl_c_after_cancels(process, stats, 3)
    assert process.returncode == 3, stderr
    cancelled = {i for i in ids if stats.by_order.get(i, {}).get("cancel")}
    frame = pl.read_parquet(out / "results.parquet")
    answered = frame.filter(pl.col("orderId").is_in(sorted(cancelled)))
    assert answered["outcome"].to_list() == ["applied"] * len(cancelled), answered
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests"] == stats.requests  # only what went out is counted
    resumed = CliRunner().invoke(
        main, ["resume", str(out), "--rate", "100", "--quiet"], env=cli_env(sandbox)
    )
    assert resumed.exit_code == 0, resumed.output
    assert max(stats.by_order[i]["cancel"] for i in ids) == 1  # nothing cancelled twice


@pytest.mark.slow
def test_the_rate_is_never_exceeded_in_any_second(sandbox: SandboxThread, tmp_path: Path) -> None:
    ids = state_of(sandbox).store.ids()[:90]
    path = tmp_path / "cancel.csv"
    path.write_text("orderId\n" + "".join(f"{i}\n" for i in ids))
    result = CliRunner().invoke(
        main,
        ["--log-level", "debug", "run", str(path), "--action", "cancel", "--rate", "40",
         "--concurrency", "8", "--out", str(tmp_path / "run"), "--quiet"],
        env=cli_env(sandbox),
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    stats = state_of(sandbox).stats
    assert stats.requests >= 150  # login + cancels + refetches
    sent = send_stamps(result.stderr)
    assert len(sent) == stats.requests
    assert most_in_any_window(sent, 1.0) <= 40
    assert most_in_any_window(stats.arrivals, 1.0, slack_s=ARRIVAL_JITTER_S) <= 40


def ctrl_c_after_cancels(process: subprocess.Popen[str], stats: Stats, cancels: int) -> str:
    """Press Ctrl-C once the sandbox has taken `cancels` cancels; the run's stderr."""
    deadline = time.monotonic() + 30
    while stats.by_endpoint.get("cancel", 0) < cancels:
        assert time.monotonic() < deadline
        assert process.poll() is None
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    return process.communicate(timeout=60)[1]


def test_click_usage_errors_exit_2() -> None:
    result = CliRunner().invoke(main, ["run", "x.csv", "--rate", "-1"])
    assert result.exit_code == 2
    assert "Invalid value for '--rate'" in result.output


def test_the_demo_replaces_only_a_demo_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`demo --out runs` removed every run under runs/ (and `--out .` the working
    folder) before its own: it now refuses, exit 2, and removes nothing."""
    monkeypatch.chdir(tmp_path)
    Path("runs/fixes").mkdir(parents=True)
    Path("runs/fixes/summary.json").write_text("{}")
    Path("runs/1-address-corrections").mkdir()  # a demo's entry beside the run
    for out in ("runs", "."):
        result = CliRunner().invoke(main, ["demo", "--out", out])
        assert result.exit_code == 2, result.output
        assert "holds more than a demo's runs" in result.output
    assert Path("runs/fixes/summary.json").exists()
    assert Path("runs/1-address-corrections").exists()
