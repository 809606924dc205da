"""A log read the morning after (docs/guide/nightly.md): nights of the documented crontab
line replayed against the sandbox (the API down, a kill -9, a sweep refused by the lock),
then the log read as on-call reads it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.cli.show import next_step
from pipeline.core.manifest import RunSummary
from pipeline.flows.sweep import sweep_lock
from pipeline.sandbox import SandboxThread
from pipeline.sandbox.config import Faults
from pipeline.send.progress import QUIET_STATUS_EVERY_S, StatusLines, status_every_s
from tests.conftest import API_KEY, PASSWORD, REPO, USERNAME, order_ids, state_of
from tests.test_cli import cli_env
from tests.test_cron import crontab_line
from tests.test_jobs import settled, sweep_job_in

EVERY_S = 1.0  # the progress interval of the replayed nights (60 s by default)


class Clone:
    """A fresh clone at /srv/quivo-bulk as docs/guide/nightly.md sets it up."""

    def __init__(self, root: Path, sandbox: SandboxThread) -> None:
        self.root = root
        (root / "sample_data" / "inbox").mkdir(parents=True)
        shutil.copytree(REPO / "jobs", root / "jobs")
        job = root / "jobs" / "nightly-cancellation-sweep.toml"
        job.write_text(job.read_text().replace("rate = 2\n", "rate = 20\n"))  # a faster night
        (root / ".venv").symlink_to(REPO / ".venv")
        self.env_file = root / ".env"
        self.env_file.write_text(
            f"QUIVO_BASE_URL={sandbox.base_url}\nQUIVO_API_KEY={API_KEY}\n"
            f"QUIVO_USERNAME={USERNAME}\nQUIVO_PASSWORD={PASSWORD}\n"
        )
        self.env_file.chmod(0o600)
        self.inbox = root / "sample_data" / "inbox"
        self.log = root / "runs" / "nightly" / "cron.log"
        self.command = crontab_line().split(None, 5)[5].replace("/srv/quivo-bulk", str(root))

    def drop(self, name: str, ids: list[int | str]) -> None:
        path = self.inbox / name
        path.write_text("orderId\n" + "".join(f"{i}\n" for i in ids))
        settled(path)

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["env", "-i", f"QUIVO_PROGRESS_EVERY_S={EVERY_S}", "/bin/sh", "-c", self.command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # no controlling terminal, as under cron
        )

    def night(self) -> tuple[int, str]:
        """Run the crontab line once; (the shell's exit code, what cron would mail)."""
        process = self.start()
        mailed, _ = process.communicate(timeout=240)
        return process.returncode, mailed

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def wait_for(predicate: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def moment(event: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


@pytest.mark.slow  # six nights of the crontab line, one of them with the API down
def test_six_nights_read_the_morning_after(sandbox: SandboxThread, tmp_path: Path) -> None:
    clone = Clone(tmp_path / "quivo-bulk", sandbox)
    ids = iter(order_ids(sandbox, "PROCESSING", 130))
    take = lambda n: [next(ids) for _ in range(n)]  # noqa: E731

    # Night 1: two files, one with an order shipped meanwhile (expected) and a bad ID;
    # the .env is readable by others.
    clone.env_file.chmod(0o644)
    clone.drop("n1-a.csv", [*take(8), 4100080, "41x"])
    clone.drop("n1-b.csv", take(8))
    code, mailed = clone.night()
    assert code == 0, mailed  # the echo ran: cron mails it
    assert "quivo-bulk sweep exit 1" in mailed  # the bad ID: an invalid row
    clone.env_file.chmod(0o600)

    # Night 2: the API is down all night.
    config = state_of(sandbox).config
    state_of(sandbox).config = replace(config, faults=Faults(error_share=1.0))
    clone.drop("n2-c.csv", take(20))
    code, mailed = clone.night()
    assert "quivo-bulk sweep exit 3" in mailed

    # Night 3: the API is back: the stopped run is resumed, a new file taken.
    state_of(sandbox).config = config
    clone.drop("n3-d.csv", take(8))
    code, mailed = clone.night()
    assert mailed == "", mailed

    # Night 4: the sweep is killed (kill -9) while a file runs.
    clone.drop("n4-e.csv", take(80))
    process = clone.start()

    def sending_e() -> bool:  # the file started and a progress line followed
        tail = clone.log.read_text().split('"file_started"')[-1]
        return "n4-e.csv" in tail and '"progress"' in tail

    wait_for(sending_e)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()

    # Night 5: the killed run is resumed; night 6: a sweep refused by the lock.
    code, mailed = clone.night()
    assert mailed == "", mailed
    with sweep_lock(clone.root / "runs" / "nightly", "nightly-cancellation-sweep"):
        code, mailed = clone.night()
    assert "quivo-bulk sweep exit 2" in mailed

    events = clone.events()
    assert all({"event", "time"} <= set(e) for e in events)  # every line one event object
    sweeps: list[list[dict[str, Any]]] = [[]]  # a night's lines (a warning may come first)
    for event in events:
        if event["event"] == "sweep_started" and any(
            e["event"] == "sweep_started" for e in sweeps[-1]
        ):
            sweeps.append([])
        sweeps[-1].append(event)
    assert len(sweeps) == 6
    ends = [[e for e in night if e["event"] == "sweep_finished"] for night in sweeps]
    assert [len(e) for e in ends] == [1, 1, 1, 0, 1, 1]  # night 4 was killed
    assert [e[0]["exitCode"] for e in ends if e] == [1, 3, 0, 0, 2]
    assert "another sweep" in ends[5][0]["error"]
    assert sweeps[5][-1]["event"] == "sweep_finished"  # the refused sweep ends with it

    started = [(e["path"].rsplit("/", 1)[-1], e) for e in events if e["event"] == "file_started"]
    assert [name for name, _ in started] == [
        "n1-a.csv", "n1-b.csv", "n2-c.csv", "n2-c.csv", "n3-d.csv", "n4-e.csv", "n4-e.csv"
    ]  # fmt: skip
    for _, event in started:
        assert Path(event["runDir"]).is_dir()
    resumed_c, resumed_e = started[3][1], started[6][1]
    assert resumed_c["resumes"]["left"] == "stopped"
    assert resumed_e["resumes"]["left"] == "killed"
    assert resumed_e["runDir"] == started[5][1]["runDir"]
    assert 0 < resumed_e["resumes"]["rowsDone"] < 80
    assert f"resuming {resumed_e['runDir']}" in resumed_e["message"]

    # Progress lines at most EVERY_S apart while a file sends (the API down included).
    for night in sweeps:
        sending = False
        last = 0.0
        for event in night:
            if event["event"] == "progress":
                if sending:
                    assert moment(event) - last <= EVERY_S + 1.0, event
                sending, last = True, moment(event)
            elif event["event"] in ("run_finished", "sweep_finished"):
                sending = False
    down = [e for e in sweeps[1] if e["event"] == "progress"]
    assert len(down) >= 3  # the API-down night kept saying it was alive

    # Night 1: the .env warning, the summary as one object, advice without expected rows.
    assert any(e["event"] == "warning" and "chmod 600" in e["message"] for e in sweeps[0]), sweeps[
        0
    ]
    assert not any("chmod 600" in (e.get("message") or "") for e in events[len(sweeps[0]) :])
    summaries = [e for e in sweeps[0] if e["event"] == "summary"]
    assert len(summaries) == 2
    advice = summaries[0]["next"]
    assert "first delete its 1 rows with errorCode status_conflict" in advice
    assert not any("─" in (e.get("message") or "") for e in events)  # no box-drawing lines

    # Every cancel went out once: none accepted twice.
    accepted = state_of(sandbox).stats.accepted_mutations
    assert accepted
    assert max(accepted.values()) == 1


def test_the_default_progress_interval_is_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUIVO_PROGRESS_EVERY_S", raising=False)
    assert QUIET_STATUS_EVERY_S == 60.0
    assert status_every_s(quiet=True) == 60.0
    assert status_every_s(quiet=False) == 5.0
    monkeypatch.setenv("QUIVO_PROGRESS_EVERY_S", "0.5")
    assert status_every_s(quiet=True) == 0.5


def test_status_lines_come_while_no_row_finishes() -> None:
    """The API down: no row finishes, yet a progress line comes every interval."""
    import io

    class JsonStream(io.StringIO):
        json_lines = True

    stream = JsonStream()
    with StatusLines(10, stream=stream, every_s=0.1) as progress:
        progress.request()
        time.sleep(0.55)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) >= 4
    assert {line["event"] for line in lines} == {"progress"}
    assert lines[-1]["rowsDone"] == 0
    assert lines[-1]["requests"] == 1


def test_the_advice_leaves_out_expected_failures(tmp_path: Path) -> None:
    summary = RunSummary(
        command="run",
        run_dir=str(tmp_path),
        rows=46,
        outcomes={"applied": 40, "failed": 5, "invalid": 1},
        error_codes={"status_conflict": 5, "invalid_order_id": 1},
        expected_failures=["status_conflict"],
        requests=100,
        stopped=None,
        exit_code=1,
        finished_at="2026-11-24T02:31:07Z",
    )
    advice = next_step(summary, tmp_path) or ""
    assert "fix the rows in" in advice
    assert "first delete its 5 rows with errorCode status_conflict" in advice
    only_expected = summary.model_copy(
        update={"outcomes": {"applied": 40, "failed": 5}, "error_codes": {"status_conflict": 5}}
    )
    assert next_step(only_expected, tmp_path) is None


def test_a_sweep_refused_by_the_lock_ends_with_one_event(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job_path = sweep_job_in(tmp_path, [])
    with sweep_lock(tmp_path / "state", "sweep"):
        result = CliRunner().invoke(
            main, ["run", "--job", str(job_path), "--log-format", "json"], env=cli_env(sandbox)
        )
    assert result.exit_code == 2
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["event"] for line in lines] == ["sweep_started", "error", "sweep_finished"]
    assert lines[-1]["exitCode"] == 2
    assert re.search(r"another sweep of job 'sweep' is running", lines[-1]["error"])


def test_a_readable_env_file_is_warned_about(
    sandbox: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env_file = tmp_path / ".env"
    env_file.write_text(f"QUIVO_API_KEY={API_KEY}\n")
    env_file.chmod(0o644)
    args = ["run", "nothing.csv", "--action", "cancel"]
    warned = CliRunner().invoke(main, args, env=cli_env(sandbox))
    assert (
        f"others can read it (mode -rw-r--r--); make it the owner's only: chmod 600 {env_file}"
        in warned.stderr
    )
    env_file.chmod(0o600)
    quiet = CliRunner().invoke(main, args, env=cli_env(sandbox))
    assert "chmod 600" not in quiet.stderr


def test_a_files_line_follows_its_runs_story_and_the_follow_up_is_no_file(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    """On-call reads a file's run (summary, run_finished) and then the file's own line,
    with its exit code and run directory; the next night's follow-up of the cancel
    requests has its own `followup` line and is not listed among the files (a new user's
    trial read `file_done` before the run's summary, and the runs folder as a file)."""
    ids = order_ids(sandbox, "PROCESSING", 3)
    first = tmp_path / "a.csv"
    first.write_text("orderId\n" + "".join(f"{i}\n" for i in ids))
    job_path = sweep_job_in(tmp_path, [first])
    args = ["run", "--job", str(job_path), "--log-format", "json"]
    night = CliRunner().invoke(main, args, env=cli_env(sandbox))
    events = [json.loads(line) for line in night.output.splitlines() if line.startswith("{")]
    names = [event["event"] for event in events]
    assert names.index("summary") < names.index("run_finished") < names.index("file_done")
    done = events[names.index("file_done")]
    assert done["exitCode"] == 0
    assert done["runDir"] == events[names.index("run_finished")]["runDir"]
    second = CliRunner().invoke(main, args, env=cli_env(sandbox))
    events = [json.loads(line) for line in second.output.splitlines() if line.startswith("{")]
    assert "followup" in [event["event"] for event in events]
    [finished] = [event for event in events if event["event"] == "sweep_finished"]
    assert [f["status"] for f in finished["files"]] == ["skipped"]
