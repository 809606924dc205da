"""Unattended runs (docs/guide/nightly.md): the nightly guide's crontab line, timestamps, JSON logs,
the finished lines, expected failures, archiving, files still being copied."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config.jobfile import load_job
from pipeline.flows.sweep import sweep_job
from pipeline.sandbox import SandboxThread
from tests.conftest import API_KEY, PASSWORD, REPO, SAMPLE_DATA, USERNAME, env_for, state_of
from tests.readme import text_of
from tests.test_cli import cli_env
from tests.test_jobs import FAST, settled, sweep_job_in

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
COMPLETED_FILE = SAMPLE_DATA / "inbox" / "2026-11-24-cancellations.csv"  # 4100080 is COMPLETED


def crontab_line() -> str:
    """The crontab line docs/guide/nightly.md prints (the one starting with its schedule)."""
    lines = text_of("docs/guide/nightly.md").splitlines()
    (line,) = [line for line in lines if line.startswith("30 2 * * *")]
    return line


@pytest.mark.slow  # the shipped job sends at 2 requests per second
def test_the_printed_crontab_line_works_on_a_fresh_clone(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    clone = tmp_path / "quivo-bulk"
    (clone / "sample_data").mkdir(parents=True)
    shutil.copytree(REPO / "jobs", clone / "jobs")
    shutil.copytree(SAMPLE_DATA / "inbox", clone / "sample_data" / "inbox")
    for path in (clone / "sample_data" / "inbox").iterdir():
        settled(path)
    (clone / ".venv").symlink_to(REPO / ".venv")
    (clone / ".env").write_text(
        f"QUIVO_BASE_URL={sandbox.base_url}\nQUIVO_API_KEY={API_KEY}\n"
        f"QUIVO_USERNAME={USERNAME}\nQUIVO_PASSWORD={PASSWORD}\n"
    )
    assert not (clone / "runs").exists()  # a fresh clone has no log folder
    command = crontab_line().split(None, 5)[5].replace("/srv/quivo-bulk", str(clone))
    done = subprocess.run(
        ["env", "-i", "/bin/sh", "-c", command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,  # no controlling terminal, as under cron
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""  # cron mails any output: none when all is well
    log = (clone / "runs" / "nightly" / "cron.log").read_text().splitlines()
    records = [json.loads(line) for line in log]  # --log-format json: every line is JSON
    assert all("time" in record for record in records)
    finished = [r for r in records if r.get("event") == "run_finished"]
    assert [r["exitCode"] for r in finished] == [0, 0]  # status_conflict is expected
    sweep = records[-1]
    assert sweep["event"] == "sweep_finished"
    assert sweep["exitCode"] == 0
    assert [Path(f["path"]).name for f in sweep["files"]] == sorted(
        p.name for p in (SAMPLE_DATA / "inbox").iterdir()
    )
    assert all(Path(f["runDir"]).is_dir() for f in sweep["files"])
    assert state_of(sandbox).stats.accepted_mutations  # the cancels were sent
    # Owner-only, all that quivo-bulk wrote (cron.log is the shell's): the runs, the
    # sweep's lock and its state database.
    written = [p for p in (clone / "runs" / "nightly").rglob("*") if p.name != "cron.log"]
    assert {p.name for p in written} >= {"sweep-state.sqlite", "results.csv"}
    assert {oct(p.stat().st_mode & 0o777) for p in written if p.is_file()} == {"0o600"}
    assert {oct(p.stat().st_mode & 0o777) for p in written if p.is_dir()} == {"0o700"}


def test_without_a_terminal_every_stderr_line_has_a_timestamp(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main,
        ["run", str(COMPLETED_FILE), "--action", "cancel", "--rate", "500",
         "--out", str(tmp_path / "r")],
        env=cli_env(sandbox),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines
    assert all(STAMP.match(line) for line in lines), lines
    last = json.loads(STAMP.sub("", lines[-1]))
    assert last["event"] == "run_finished"
    assert last["exitCode"] == 1
    assert last["runDir"] == str(tmp_path / "r")
    assert last["outcomes"] == {"applied": 3, "failed": 1}
    # The summary shows the error groups and the next step.
    assert re.search(r"status_conflict \(1\): .*COMPLETED.*\(rows 5\)", result.stdout)
    assert f"next: fix the rows in {tmp_path / 'r' / 'errors.xlsx'}" in result.stdout


def test_log_format_json_makes_every_stderr_line_json(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main,
        ["--log-level", "info", "run", str(COMPLETED_FILE), "--action", "cancel",
         "--rate", "500", "--out", str(tmp_path / "r"), "--log-format", "json"],
        env=cli_env(sandbox),
    )  # fmt: skip
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert len(records) > 1  # info logging ran
    assert all(re.match(r"\d{4}-\d\d-\d\dT", r["time"]) for r in records)
    assert records[-1]["event"] == "run_finished"


def test_expected_failures_count_as_fine_for_the_exit_code(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main,
        ["run", str(COMPLETED_FILE), "--action", "cancel", "--rate", "500",
         "--out", str(tmp_path / "r"), "--expected-failures", "status_conflict", "--quiet"],
        env=cli_env(sandbox),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    errors = (tmp_path / "r" / "errors.csv").read_text()
    assert "4100080" in errors  # the row stays in the reports
    assert "next:" not in result.stdout  # nothing left to do
    wrong = CliRunner().invoke(
        main, ["run", str(COMPLETED_FILE), "--action", "cancel", "--expected-failures", "nope"]
    )
    assert wrong.exit_code == 2
    assert "unknown error code nope" in wrong.output


def test_the_nightly_job_expects_status_conflicts() -> None:
    job = load_job(REPO / "jobs" / "nightly-cancellation-sweep.toml")
    assert job.expected_failures == ["status_conflict"]


def test_archive_moves_finished_and_rejected_files(sandbox: SandboxThread, tmp_path: Path) -> None:
    job_path = sweep_job_in(tmp_path, [COMPLETED_FILE])
    job_path.write_text(job_path.read_text() + "archive = true\n")
    broken = tmp_path / "inbox" / "0-broken.csv"
    broken.write_text("Kunde\n1\n")
    settled(broken)
    items = sweep_job(load_job(job_path), overrides=FAST, env=env_for(sandbox))
    assert [item.status for item in items] == ["rejected", "done"]
    inbox = tmp_path / "inbox"
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []
    assert (inbox / "done" / COMPLETED_FILE.name).is_file()
    assert (inbox / "rejected" / "0-broken.csv").is_file()
    reason = (inbox / "rejected" / "0-broken.csv.reason.txt").read_text()
    assert "no order key column" in reason
    # Every path a message names exists; the rejected file made no run directory.
    named = re.findall(r"(/[^\s:;)]+)", items[0].message)
    assert len(named) == 3  # the file (where it is now), and where it was moved, the reason
    for path in named:
        assert Path(path).exists(), path
    assert len(list((tmp_path / "runs").iterdir())) == 1


def test_a_file_still_being_copied_is_left_for_a_later_sweep(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job_path = sweep_job_in(tmp_path, [])
    growing = tmp_path / "inbox" / "late.csv"
    growing.write_text("orderId\n4100003\n")  # just written: may still be growing
    first = sweep_job(load_job(job_path), overrides=FAST, env=env_for(sandbox))
    assert [item.status for item in first] == ["waiting"]
    assert state_of(sandbox).stats.requests == 0
    later = time.time() + 60
    taken = sweep_job(load_job(job_path), overrides=FAST, env=env_for(sandbox), now=lambda: later)
    assert [item.status for item in taken] == ["done"]
    assert os.path.exists(taken[0].result.run_dir if taken[0].result else "")
