"""Job files and the nightly sweep (docs/reference/job-files.md, docs/guide/nightly.md)."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config.jobfile import load_job
from pipeline.config.options import Options
from pipeline.core.errors import JobFileError, OptionsError
from pipeline.flows.sweep import STATE_NAME, sweep_exit_code, sweep_job, sweep_lock
from pipeline.sandbox import SandboxThread
from tests.conftest import REPO, SAMPLE_DATA, env_for, state_of
from tests.test_cli import cli_env

FAST = Options(rate=500.0, concurrency=8)


@pytest.mark.parametrize("path", sorted((REPO / "jobs").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_job_validates(path: Path) -> None:
    job = load_job(path)
    assert job.action in (None, "address", "cancel", "update")
    if job.input is not None:
        assert job.input_paths(), f"{path.name} matches no input"


def test_the_shipped_jobs_are_the_three_uses() -> None:
    names = {p.name for p in (REPO / "jobs").glob("*.toml")}
    assert names >= {
        "address-corrections.toml",
        "nightly-cancellation-sweep.toml",
        "data-team-rerun.toml",
    }
    assert load_job(REPO / "jobs/nightly-cancellation-sweep.toml").is_sweep()
    assert load_job(REPO / "jobs/data-team-rerun.toml").rerun is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('input = "a.csv"\ncolour = "red"\n', "unknown key 'colour'"),
        (
            'input = "a.csv"\naction = "delete"\n',
            "'action': Input should be 'update', 'address' or",
        ),
        ('input = "a.csv"\nrate = -1\n', "'rate': Value error, rate '-1' is negative; use N"),
        ('input = "a.csv"\nrate = "often"\n', "'rate': Value error, rate 'often' is not a rate"),
        (
            'input = "a.csv"\nconcurrency = 0\n',
            "'concurrency': Input should be greater than or equal",
        ),
        ('input = "a.csv"\nretries = "many"\n', "'retries': Input should be a valid integer"),
        (
            'input = "a.csv"\n[columns]\n"Stadt" = "town"\n',
            "'Stadt' maps to 'town', which is not one",
        ),
        ('action = "cancel"\n', "give exactly one of 'input' (files) and 'rerun'"),
        ('input = "a.csv"\nrerun = "runs/x"\n', "give exactly one of 'input' (files) and 'rerun'"),
        ('input = "a.csv\n', "not valid TOML"),
        (
            'input = "a.csv"\nassume_yes = "yes please"\n',
            "'assume_yes': Input should be a valid boolean",
        ),
    ],
)
def test_bad_job_files_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(JobFileError) as caught:
        load_job(path)
    assert str(caught.value).startswith(f"job file {path}: ")
    assert message in str(caught.value)


def test_a_bad_job_file_is_exit_2_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('input = "a.csv"\ncolour = "red"\n')
    result = CliRunner().invoke(main, ["run", "--job", str(path)])
    assert result.exit_code == 2
    assert "unknown key 'colour'" in result.output


def test_options_override_the_job_and_relative_paths_follow_the_job(tmp_path: Path) -> None:
    from pipeline.config.settings import resolve_options

    job = load_job(REPO / "jobs/address-corrections.toml")
    assert job.input_paths() == [SAMPLE_DATA / "address-corrections.csv"]
    options = resolve_options(Options(rate=9.0), job=job, env=None)
    assert options.api.rate_per_s == 9.0
    assert options.api.concurrency == job.concurrency
    assert options.action == "address"


def settled(path: Path) -> Path:
    """A file last changed an hour ago: complete, as far as a sweep can tell."""
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    return path


def sweep_job_in(tmp_path: Path, inbox_files: list[Path]) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for path in inbox_files:
        shutil.copy(path, inbox / path.name)
        settled(inbox / path.name)
    job = tmp_path / "sweep.toml"
    job.write_text(
        'input = "inbox/*.csv"\naction = "cancel"\nassume_yes = true\n'
        'runs_dir = "runs"\nstate_dir = "state"\n'
    )
    return job


def test_the_sweep_processes_each_file_once(sandbox: SandboxThread, tmp_path: Path) -> None:
    job = load_job(sweep_job_in(tmp_path, sorted((SAMPLE_DATA / "inbox").glob("*.csv"))))
    first = sweep_job(job, overrides=FAST, env=env_for(sandbox))
    assert [item.status for item in first] == ["done", "done"]
    assert sweep_exit_code(first) == 1  # one order in the second file is COMPLETED
    sent = state_of(sandbox).stats.requests
    accepted = sum(state_of(sandbox).stats.accepted_mutations.values())
    second = sweep_job(job, overrides=FAST, env=env_for(sandbox))
    [followup] = [item.followup for item in second if item.followup is not None]
    second = [item for item in second if item.followup is None]
    assert [item.status for item in second] == ["skipped", "skipped"]
    assert sweep_exit_code(second) == 0
    # Nothing sent the second time: only the follow-up of the first night's cancels read.
    assert sum(state_of(sandbox).stats.accepted_mutations.values()) == accepted
    assert state_of(sandbox).stats.requests - sent == followup["requests"] <= 2
    # A new file dropped into the inbox is taken by the next sweep.
    (tmp_path / "inbox" / "late.csv").write_text("orderId\n4100003\n")
    settled(tmp_path / "inbox" / "late.csv")
    third = sweep_job(job, overrides=FAST, env=env_for(sandbox))
    third = [item for item in third if item.followup is None]
    assert [item.status for item in third] == ["skipped", "skipped", "done"]


def test_an_interrupted_file_is_resumed_by_the_next_sweep(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job = load_job(sweep_job_in(tmp_path, sorted((SAMPLE_DATA / "inbox").glob("*.csv"))))
    refused = sweep_job(job, overrides=FAST, env=env_for(sandbox, password="wrong"))
    assert [item.status for item in refused] == ["stopped"]  # the sweep stops at the first
    assert sweep_exit_code(refused) == 3
    stopped_run = refused[0].result
    assert stopped_run is not None
    again = sweep_job(job, overrides=FAST, env=env_for(sandbox))
    assert [item.status for item in again] == ["done", "done"]
    resumed = again[0].result
    assert resumed is not None
    assert resumed.run_dir == stopped_run.run_dir
    assert resumed.summary.command == "resume"
    # The resume really sent the file's cancels: each of its orders got one, and its
    # rows all have an outcome of their own (none left not_attempted).
    first_file = sorted((SAMPLE_DATA / "inbox").glob("*.csv"))[0]
    ids = [int(line.split(",")[0]) for line in first_file.read_text().splitlines()[1:]]
    accepted = state_of(sandbox).stats.accepted_mutations
    assert [accepted[order_id] for order_id in ids] == [1] * len(ids)
    assert "not_attempted" not in set(resumed.results["outcome"])
    with sqlite3.connect(tmp_path / "state" / STATE_NAME) as db:
        statuses = [row[0] for row in db.execute("SELECT status FROM files ORDER BY path")]
    assert statuses == ["done", "done"]


def test_a_file_that_cannot_be_used_does_not_stop_the_sweep(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job_path = sweep_job_in(tmp_path, [sorted((SAMPLE_DATA / "inbox").glob("*.csv"))[0]])
    (tmp_path / "inbox" / "0-broken.csv").write_text("Kunde\n1\n")
    settled(tmp_path / "inbox" / "0-broken.csv")
    items = sweep_job(load_job(job_path), overrides=FAST, env=env_for(sandbox))
    assert [item.status for item in items] == ["rejected", "done"]
    assert "no order key column" in items[0].message
    assert sweep_exit_code(items) == 2


def test_a_file_over_max_cancels_is_rejected_before_any_cancel(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    files = sorted((SAMPLE_DATA / "inbox").glob("*.csv"))  # 7 and 4 orders
    job_path = sweep_job_in(tmp_path, files)
    job_path.write_text(job_path.read_text() + "max_cancels = 5\n")
    items = sweep_job(load_job(job_path), overrides=FAST, env=env_for(sandbox))
    assert [item.status for item in items] == ["rejected", "done"]
    assert "would cancel 7 orders, more than --max-cancels 5" in items[0].message
    assert sweep_exit_code(items) == 2
    lines = files[0].read_text().split()[1:]
    first_file = {int(line.split(",")[0]) for line in lines if line[0].isdigit()}
    assert len(first_file) == 7
    assert not first_file & set(state_of(sandbox).stats.by_order)  # not even read


def test_two_sweeps_at_once_do_not_both_run(sandbox: SandboxThread, tmp_path: Path) -> None:
    job = load_job(sweep_job_in(tmp_path, sorted((SAMPLE_DATA / "inbox").glob("*.csv"))))
    with sweep_lock(tmp_path / "state", job.job_name):
        with pytest.raises(OptionsError, match="another sweep of job 'sweep' is running"):
            sweep_job(job, overrides=FAST, env=env_for(sandbox))
        result = CliRunner().invoke(
            main, ["run", "--job", str(job.folder / "sweep.toml")], env=cli_env(sandbox)
        )
        assert result.exit_code == 2
        assert "another sweep" in result.output
    assert state_of(sandbox).stats.requests == 0


def test_the_sweep_from_the_command_line_then_the_data_team_rerun(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job_path = sweep_job_in(tmp_path, sorted((SAMPLE_DATA / "inbox").glob("*.csv")))
    env = cli_env(sandbox)
    first = CliRunner().invoke(
        main, ["run", "--job", str(job_path), "--rate", "500", "--quiet"], env=env
    )
    assert first.exit_code == 1, first.output
    assert first.output.count(": done") == 2
    second = CliRunner().invoke(main, ["run", "--job", str(job_path), "--quiet"], env=env)
    assert second.exit_code == 0
    assert second.output.count(": skipped") == 2
    rerun_job = tmp_path / "rerun.toml"
    rerun_job.write_text('rerun = "runs/????????T??????Z-sweep-2026-11-24-*"\nrate = 500\n')
    rerun = CliRunner().invoke(main, ["run", "--job", str(rerun_job), "--quiet"], env=env)
    assert rerun.exit_code == 0, rerun.output  # the COMPLETED order's refusal is permanent
    assert "nothing to rerun" in rerun.output
    glob = str(tmp_path / "runs" / "????????T??????Z-sweep-2026-11-24-*")
    forced = [glob, "--include-permanent", "--rate", "500", "--quiet"]
    rerun = CliRunner().invoke(main, ["rerun", *forced], env=env)
    assert rerun.exit_code == 1, rerun.output
    assert "quivo-bulk run: 1 rows" in rerun.output  # the COMPLETED order, again refused
    sent = state_of(sandbox).stats.requests
    twice = CliRunner().invoke(main, ["rerun", *forced], env=env)
    assert twice.exit_code == 2, twice.output  # never the same run twice without --again
    assert "was already rerun by" in twice.output
    both = str(tmp_path / "runs" / "????????T??????Z-sweep-*")  # one rerun already, one clean
    night = CliRunner().invoke(main, ["rerun", both, "--include-permanent", "--quiet"], env=env)
    assert night.exit_code == 0, night.output
    assert "nothing to rerun" in night.output
    assert night.output.count("was already rerun by") == 1
    assert state_of(sandbox).stats.requests == sent


def test_a_job_run_goes_under_its_runs_dir(
    sandbox: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    shutil.copy(SAMPLE_DATA / "cancellations.parquet", tmp_path / "list.parquet")
    (jobs / "cancel.toml").write_text(
        'input = "../list.parquet"\naction = "cancel"\nruns_dir = "../runs"\nrate = 500\n'
    )
    monkeypatch.chdir(tmp_path / "jobs")  # cron starts anywhere
    result = CliRunner().invoke(
        main, ["run", "--job", str(jobs / "cancel.toml"), "--quiet"], env=cli_env(sandbox)
    )
    assert result.exit_code == 1, result.output
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    assert runs[0].name.endswith("-cancel")
    assert (runs[0] / "results.parquet").exists()
    assert not (tmp_path / "jobs" / "runs").exists()


def test_every_job_key_is_in_the_job_files_table() -> None:
    from pipeline.config.jobfile import COMMAND_LINE_ONLY, JobFile
    from tests.readme import section

    table = section("# Job files", page="docs/reference/job-files.md").split(
        "The repository ships", 1
    )[0]
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    keys = {key for cell in first_cells for key in re.findall(r"`\[?(\w+)\]?`", cell)}
    # folder: not a key; dry_run: the command line's only
    assert set(JobFile.model_fields) - {"folder", *COMMAND_LINE_ONLY} - keys == set()
