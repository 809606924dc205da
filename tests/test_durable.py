"""Durable runs: kill -9 and resume, rerun, report --rebuild (docs/durability.md)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import polars as pl
import pytest
from aiohttp import web
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.core.errors import RunDirError
from pipeline.flows.rerun import rerun_run, rerun_runs
from pipeline.flows.resume import load_results, rebuild_reports
from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app
from tests.conftest import SAMPLE_DATA, env_for, options_for, order_ids, state_of
from tests.test_cli import cli_env

MUTATIONS = ("patch", "address", "cancel")
CONCURRENCY = 4


def mixed_input(sandbox: SandboxThread, folder: Path) -> tuple[Path, int]:
    """40 cancels and 20 comment updates on distinct orders: all should land."""
    cancels = order_ids(sandbox, "PENDING", 20) + order_ids(sandbox, "PROCESSING", 60)[:20]
    updates = order_ids(sandbox, "PROCESSING", 60)[20:40]
    lines = [f"{i},cancel," for i in cancels] + [f"{i},update,kill test {i}" for i in updates]
    path = folder / "mixed.csv"
    path.write_text("orderId,action,comment\n" + "\n".join(lines) + "\n")
    return path, len(lines)


def killer(route: str, at: int, pid: list[int]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A sandbox middleware that SIGKILLs the client when the at-th `route` request arrives."""
    seen = 0

    @web.middleware
    async def kill(
        request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        nonlocal seen
        if request.match_info.route.name == route:
            seen += 1
            if seen == at and pid:
                os.kill(pid[0], signal.SIGKILL)
        return await handler(request)

    return kill


def finished_rows(run_dir: Path) -> set[int]:
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        return {row[0] for row in db.execute("SELECT idx FROM results")}


def mutations_by_order(sandbox: SandboxThread) -> dict[int, int]:
    return {
        order_id: sum(counts.get(kind, 0) for kind in MUTATIONS)
        for order_id, counts in state_of(sandbox).stats.by_order.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("route", "at"),
    [
        ("cancel", 1),  # before the first answer
        ("cancel", 25),  # in the middle
        ("refetch", 10),  # during refetches
        (None, 0),  # while writing the reports
    ],
    ids=["before-first-answer", "middle", "during-refetch", "writing-reports"],
)
def test_kill_9_then_resume_sends_every_row_once(
    tmp_path: Path, fresh_orders: list[dict[str, object]], route: str | None, at: int
) -> None:
    pid: list[int] = []
    app = create_app(SandboxConfig(cancel_delay_s=60), orders=fresh_orders)
    if route is not None:
        app.middlewares.insert(0, killer(route, at, pid))
    with SandboxThread(app) as sandbox:
        path, rows = mixed_input(sandbox, tmp_path)
        out = tmp_path / "run"
        env = {**os.environ, **cli_env(sandbox)}
        command = [sys.executable, "-m", "pipeline", "run", str(path), "--out", str(out),
                   "--rate", "60", "--concurrency", str(CONCURRENCY), "--quiet"]  # fmt: skip
        with subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ) as process:
            pid.append(process.pid)
            if route is None:
                _kill_when_reports_start(process, out)
            process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL
        finished = finished_rows(out)
        before = mutations_by_order(sandbox)

        resumed = CliRunner().invoke(main, ["resume", str(out), "--quiet"], env=cli_env(sandbox))
        assert resumed.exit_code == 0, resumed.output
        after = mutations_by_order(sandbox)

    results = pl.read_parquet(out / "results.parquet")
    assert results["row"].to_list() == list(range(2, rows + 2))  # every row once (line numbers)
    assert set(results["outcome"]) == {"applied"}
    by_row = dict(zip(range(rows), results["orderId"].to_list(), strict=True))
    for index in finished:  # rows that finished before the kill were not sent again
        assert after[by_row[index]] == 1, by_row[index]
    resent = sum(after.values()) - rows
    assert resent == sum(after.values()) - sum(1 for n in after.values() if n)
    assert 0 <= resent <= CONCURRENCY * 4  # at most the orders in progress at the kill
    # Resume sent each unfinished row exactly once: nothing more, nothing less.
    assert sum(after.values()) - sum(before.values()) == rows - len(finished)
    if route is None:
        assert sum(after.values()) == rows  # killed while writing reports: nothing re-sent
    print(
        f"\nkill at {route or 'reports'} #{at}: {len(finished)} of {rows} rows finished before"
        f" the kill, {sum(before.values())} mutations sent before, {resent} sent again on resume"
    )


def _kill_when_reports_start(process: subprocess.Popen[bytes], out: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "results.parquet").exists():
            process.kill()
            return
        time.sleep(0.001)
    raise AssertionError("the run finished before its reports could be interrupted")


def test_resume_refuses_changed_inputs(sandbox: SandboxThread, tmp_path: Path) -> None:
    path = tmp_path / "cancel.csv"
    path.write_text("orderId\n" + "\n".join(map(str, order_ids(sandbox, "PENDING", 3))) + "\n")
    stopped = run_files(
        [path],
        options=options_for(sandbox, action="cancel"),
        env=env_for(sandbox, password="wrong"),
        out=tmp_path / "r",
    )
    assert stopped.exit_code == 3  # login refused: unfinished
    path.write_text(path.read_text() + "4100001\n")
    result = CliRunner().invoke(main, ["resume", str(tmp_path / "r")], env=cli_env(sandbox))
    assert result.exit_code == 2
    assert "changed since the run started (sha256 differs)" in result.output


def test_resume_of_a_finished_run_sends_nothing(sandbox: SandboxThread, tmp_path: Path) -> None:
    result = run_files(
        [SAMPLE_DATA / "mixed-changes.xlsx"], options=options_for(sandbox), env=env_for(sandbox),
        out=tmp_path / "r",
    )  # fmt: skip
    sent = state_of(sandbox).stats.requests
    again = CliRunner().invoke(
        main, ["resume", str(tmp_path / "r"), "--quiet"], env=cli_env(sandbox)
    )
    assert again.exit_code == result.exit_code
    assert state_of(sandbox).stats.requests == sent
    assert load_results(tmp_path / "r")["outcome"].to_list() == result.results["outcome"].to_list()


def test_rerun_takes_exactly_the_rows_that_did_not_land(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    first = run_files(
        [SAMPLE_DATA / "mixed-changes.xlsx"], options=options_for(sandbox), env=env_for(sandbox),
        out=tmp_path / "night",
    )  # fmt: skip
    wanted = first.results.filter(
        pl.col("outcome").is_in(["failed", "unverified", "not_attempted"])
    )
    assert wanted["row"].to_list() == [4, 6]  # Excel's row numbers
    assert set(wanted["errorCode"]) == {"status_conflict"}  # permanent: needs a person
    nothing = rerun_run(tmp_path / "night", env=env_for(sandbox), out=tmp_path / "none")
    assert nothing.summary.rows == 0
    assert not (tmp_path / "none").exists()
    # From a notebook: a library call that gives a DataFrame back.
    again = rerun_run(
        tmp_path / "night", env=env_for(sandbox), out=tmp_path / "again",
        include_permanent=True,
    )  # fmt: skip
    assert isinstance(again.results, pl.DataFrame)
    assert again.results["sourceRow"].to_list() == [4, 6]  # an integer, as in the source
    assert pl.read_parquet(tmp_path / "again" / "results.parquet")["sourceRow"].dtype == pl.Int64
    assert again.results["orderId"].to_list() == wanted["orderId"].to_list()
    assert again.summary.reruns == str(tmp_path / "night")
    assert set(again.results["outcome"]) == {"failed"}  # still PENDING / COMPLETED
    sent = state_of(sandbox).stats.requests
    with pytest.raises(RunDirError, match=r"already rerun by .*; pass --again"):
        rerun_run(tmp_path / "night", env=env_for(sandbox), include_permanent=True)
    assert state_of(sandbox).stats.requests == sent
    third = rerun_run(
        tmp_path / "night", env=env_for(sandbox), out=tmp_path / "third",
        include_permanent=True, again=True,
    )  # fmt: skip
    assert third.results["orderId"].to_list() == wanted["orderId"].to_list()


def test_rerun_with_nothing_to_do_exits_0(sandbox: SandboxThread, tmp_path: Path) -> None:
    path = tmp_path / "cancel.csv"
    path.write_text("orderId\n" + "\n".join(map(str, order_ids(sandbox, "PENDING", 2))) + "\n")
    run_files(
        [path],
        options=options_for(sandbox, action="cancel"),
        env=env_for(sandbox),
        out=tmp_path / "r",
    )
    result = CliRunner().invoke(main, ["rerun", str(tmp_path / "r")], env=cli_env(sandbox))
    assert result.exit_code == 0
    assert "nothing to rerun" in result.output
    assert "no run directory was made" in result.output
    last = result.output.strip().splitlines()[-1]
    finished = json.loads(last[last.index("{") :])  # after the cron timestamp
    assert finished["event"] == "run_finished"
    assert finished["runDir"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cancel.csv", "r"]


def test_rerun_runs_with_nothing_to_rerun_says_so_and_returns_no_run_directory(
    sandbox: SandboxThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """From Python: `run_dir` is None (not the source run, whose results an analyst
    would load instead), the summary's too, and a log line says why."""
    path = tmp_path / "cancel.csv"
    path.write_text("orderId\n" + "\n".join(map(str, order_ids(sandbox, "PENDING", 2))) + "\n")
    options = options_for(sandbox, action="cancel")
    run_files([path], options=options, env=env_for(sandbox), out=tmp_path / "runs" / "night")
    sent = state_of(sandbox).stats.requests
    with caplog.at_level("WARNING", logger="pipeline"):
        result = rerun_runs([tmp_path / "runs" / "*"], env=env_for(sandbox))
    assert result.run_dir is None
    assert result.summary.run_dir is None
    assert result.exit_code == 0
    assert result.results.height == 0
    assert "nothing to rerun in" in caplog.text
    assert "no run directory" in caplog.text
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["night"]
    assert state_of(sandbox).stats.requests == sent


def test_rerun_refuses_an_unfinished_run(sandbox: SandboxThread, tmp_path: Path) -> None:
    run = run_files(
        [SAMPLE_DATA / "cancellations.parquet"], options=options_for(sandbox, action="cancel"),
        env=env_for(sandbox), out=tmp_path / "r",
    )  # fmt: skip
    with sqlite3.connect(run.run_dir / "journal.sqlite") as db:
        db.execute("DELETE FROM results WHERE idx = 0")
    with pytest.raises(RunDirError, match="unfinished"):
        rerun_run(run.run_dir, env=env_for(sandbox))


def test_report_rebuild_writes_the_reports_from_the_journal(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    run = run_files(
        [SAMPLE_DATA / "address-corrections.csv"], options=options_for(sandbox, action="address"),
        env=env_for(sandbox), out=tmp_path / "r",
    )  # fmt: skip
    original = (run.run_dir / "results.csv").read_text()
    for name in ("results.csv", "results.parquet", "errors.csv", "summary.json"):
        (run.run_dir / name).unlink()
    rebuilt = rebuild_reports(run.run_dir)
    assert (run.run_dir / "results.csv").read_text() == original
    assert rebuilt.summary.outcomes == run.summary.outcomes
    shown = CliRunner().invoke(main, ["report", str(run.run_dir), "--rebuild"])
    assert shown.exit_code == 1
    assert "conflicting_rows" in shown.output


def test_runs_work_from_a_worker_thread(sandbox: SandboxThread, tmp_path: Path) -> None:
    """Signal handlers can only be installed on the main thread; elsewhere runs still work."""
    results: list[int] = []

    def work() -> None:
        run = run_files(
            [SAMPLE_DATA / "cancellations.parquet"], options=options_for(sandbox, action="cancel"),
            env=env_for(sandbox), out=tmp_path / "t",
        )  # fmt: skip
        results.append(run.exit_code)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert results == [1]


def test_a_rerun_names_its_input_by_a_path_that_exists(in_copy: Path) -> None:
    """The rerun's copied rows are runs/<rerun>/inputs/1-....parquet: the `file` column
    names that path from the working directory (it named it from runs/, a path that is
    nowhere), and no warning calls the rerun's own columns unused."""
    runner = CliRunner()
    first = ["run", "sample_data/mixed-changes.xlsx", "--out", "runs/night", "--rate", "100"]
    assert runner.invoke(main, first).exit_code == 1
    result = runner.invoke(main, ["rerun", "runs/night", "--include-permanent", "--quiet",
                                  "--out", "runs/again", "--rate", "100"])  # fmt: skip
    assert result.exit_code == 1, result.output
    [name] = pl.read_parquet("runs/again/results.parquet")["file"].unique().to_list()
    assert name.startswith("runs/again/inputs/")
    assert Path(name).is_file()
    # The columns the rerun added are carried, without a warning about them.
    assert "sourceRun" not in result.stderr
    assert pl.read_parquet("runs/again/results.parquet")["sourceRow"].to_list() == [4, 6]


def test_an_out_that_holds_a_run_is_refused_with_the_right_next_step(in_copy: Path) -> None:
    """A finished run is shown with `report` (resume would only say it is finished);
    a stopped one is finished with `resume`."""
    runner = CliRunner()
    shifted = "".join(f"{9_000_000 + n},x\n" for n in range(30))  # no such orders
    Path("shifted.csv").write_text("orderId,comment\n" + shifted)
    for args, code in [
        (["sample_data/cancellations.parquet", "--action", "cancel", "--out", "runs/done"], 1),
        (["shifted.csv", "--action", "update", "--out", "runs/stopped"], 3),  # the breaker
    ]:
        assert runner.invoke(main, ["run", *args, "--rate", "100"]).exit_code == code
    finished = runner.invoke(main, ["run", "sample_data/cancellations.parquet", "--action",
                                    "cancel", "--out", "runs/done"])  # fmt: skip
    assert finished.exit_code == 2
    assert "it holds a finished run ('quivo-bulk report runs/done' shows it)" in finished.output
    assert "resume" not in finished.output
    stopped = runner.invoke(main, ["run", "shifted.csv", "--action", "update", "--out",
                                   "runs/stopped"])  # fmt: skip
    assert stopped.exit_code == 2
    assert "finish that run with 'quivo-bulk resume runs/stopped'" in stopped.output


def test_rerun_takes_the_guards_against_a_wrong_file(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    """docs/reference/commands.md: every sending command takes --max-changes / --max-cancels. A
    rerun over the limit sends nothing, makes no run directory, and leaves the night's run free to
    be rerun (it is not marked as taken)."""
    run_files(
        [SAMPLE_DATA / "mixed-changes.xlsx"], options=options_for(sandbox), env=env_for(sandbox),
        out=tmp_path / "night",
    )  # fmt: skip
    sent = state_of(sandbox).stats.requests
    night, again = str(tmp_path / "night"), str(tmp_path / "again")
    refused = CliRunner().invoke(
        main,
        ["rerun", night, "--include-permanent", "--max-changes", "1", "--out", again],
        env=cli_env(sandbox),
    )
    assert refused.exit_code == 2, refused.output
    assert "would change 2 orders, more than --max-changes 1" in refused.output
    assert state_of(sandbox).stats.requests == sent
    assert not (tmp_path / "again").exists()
    allowed = CliRunner().invoke(
        main,
        ["rerun", night, "--include-permanent", "--max-changes", "2", "--out", again, "--quiet"],
        env=cli_env(sandbox),
    )
    assert allowed.exit_code == 1, allowed.output  # its 2 rows are still status_conflict
    assert pl.read_parquet(tmp_path / "again" / "results.parquet").height == 2
