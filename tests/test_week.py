"""A week the data team can count from Python (docs/guide/notebook.md, docs/reference/outputs.md).

Five nights of a cancellation job against the sandbox: a plain night, a night the API
is down (the run stops, exit 3) resumed the next night, a night with passing server
errors whose rows a later rerun sends again, a night stopped by Ctrl-C and resumed the
next. Read back with `load_results(..., latest=True)` and counted per night by
`decidedAt`, each night's `applied` rows are exactly the cancels the sandbox accepted
that night; a resumed row counts under the night it was decided, not the night its
run started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web

from pipeline.config.settings import RunOptions
from pipeline.flows.rerun import rerun_runs
from pipeline.flows.resume import load_results, resume_run
from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app
from pipeline.sandbox.replies import order_id_of
from tests.conftest import env_for, options_for, state_of
from tests.test_cli import cli_env, ctrl_c_after_cancels

JOB = "nightly-cancellation-sweep"
PER_NIGHT = 12
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class World:
    """What happens to the API on a night: down (503 to everything), or 500 to the
    cancels of some orders (a passing server error)."""

    down: bool = False
    failing: set[int] = field(default_factory=set)

    def middleware(self) -> Any:
        @web.middleware
        async def world(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith("/_sandbox"):
                return await handler(request)
            if self.down:
                return web.Response(status=503, text="<html>503 Service Unavailable</html>")
            if request.match_info.route.name == "cancel" and order_id_of(request) in self.failing:
                return web.json_response({"message": "Internal server error"}, status=500)
            return await handler(request)

        return world


@dataclass
class Night:
    start: datetime
    end: datetime
    accepted: int  # cancels the sandbox accepted during the night (its own count)


@pytest.fixture
def week() -> Iterator[tuple[SandboxThread, World]]:
    world = World()
    app = create_app(SandboxConfig(cancel_delay_s=3600, count=400))
    app.middlewares.insert(0, world.middleware())
    with SandboxThread(app) as sandbox:
        yield sandbox, world


def cancellable(sandbox: SandboxThread, count: int) -> list[int]:
    state = state_of(sandbox)
    found = []
    for order_id in state.store.ids():
        order = state.order(order_id, touch=False)
        if order and order["orderStatus"] in ("PENDING", "PROCESSING"):
            found.append(order_id)
    return found[:count]


def night_dir(runs: Path, night: int) -> Path:
    """As a sweep names its runs: `<UTC time>-<job>-<file>`."""
    return runs / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{JOB}-night-{night}"


def inbox_file(folder: Path, night: int, ids: list[int]) -> Path:
    path = folder / f"night-{night}.csv"
    path.write_text("orderId\n" + "".join(f"{order_id}\n" for order_id in ids))
    return path


def accepted(sandbox: SandboxThread) -> int:
    return sum(state_of(sandbox).stats.accepted_mutations.values())


@pytest.mark.slow
def test_a_week_counted_per_night_by_decided_at_is_what_the_api_received(
    week: tuple[SandboxThread, World], tmp_path: Path
) -> None:
    sandbox, world = week
    runs = tmp_path / "runs"
    runs.mkdir()
    ids = cancellable(sandbox, 4 * PER_NIGHT)
    batch = {n: ids[(n - 1) * PER_NIGHT : n * PER_NIGHT] for n in (1, 2, 3, 4)}
    options: RunOptions = replace(
        options_for(sandbox, action="cancel", rate=100.0, concurrency=2, retries=0),
        job_name=JOB,
    )
    options = replace(options, api=replace(options.api, outage_grace_s=0.0))
    env = env_for(sandbox)
    nights: list[Night] = []
    dirs: dict[int, Path] = {}

    def night(work: Callable[[], None]) -> None:
        start, before = datetime.now(UTC), accepted(sandbox)
        work()
        nights.append(Night(start, datetime.now(UTC), accepted(sandbox) - before))

    def run(number: int) -> int:
        dirs[number] = night_dir(runs, number)
        path = inbox_file(tmp_path, number, batch[number])
        return run_files([path], options=options, env=env, out=dirs[number]).exit_code

    # Night 1: a plain night.
    night(lambda: run(1))
    # Night 2: the API is down all night: the run stops at its login (exit 3).
    world.down = True
    night(lambda: None if run(2) == 3 else pytest.fail("night 2 did not stop"))
    world.down = False
    # Night 3: night 2's run is resumed; night 3's own file meets 3 passing server errors.
    world.failing = set(batch[3][:3])

    def third() -> None:
        assert resume_run(dirs[2], env=env).exit_code == 0
        assert run(3) == 1

    night(third)
    world.failing = set()
    # Night 4: stopped by Ctrl-C after a few cancels (a real signal to a real process).
    dirs[4] = night_dir(runs, 4)
    path = inbox_file(tmp_path, 4, batch[4])

    def fourth() -> None:
        options = ["--action", "cancel", "--rate", "10", "--concurrency", "2", "--quiet"]
        command = [sys.executable, "-m", "pipeline", "run", str(path), "--out", str(dirs[4])]
        command += options
        with subprocess.Popen(
            command,
            env={**os.environ, **cli_env(sandbox)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            stats = state_of(sandbox).stats
            ctrl_c_after_cancels(process, stats, stats.by_endpoint["cancel"] + 4)
        assert process.returncode == 3

    night(fourth)
    # Night 5: night 4's run is resumed, and the data team reruns what did not land.
    rerun: list[Path | None] = []

    def fifth() -> None:
        assert resume_run(dirs[4], env=env).exit_code == 0
        rerun.append(rerun_runs([str(runs / f"*-{JOB}-*")], env=env).run_dir)

    night(fifth)

    rerun_dir = rerun[0]
    assert rerun_dir is not None
    assert rerun_dir.name.endswith(f"-rerun-{JOB}")
    nightly = sorted(runs.glob(f"*-{JOB}-*"))
    assert rerun_dir not in nightly  # the nightly glob never takes the rerun
    assert len(nightly) == 4

    week_rows = load_results(str(runs / "*"), latest=True)
    assert week_rows.height == 4 * PER_NIGHT  # every source row once
    assert set(week_rows["outcome"]) == {"applied"}
    assert week_rows["orderId"].sort().to_list() == sorted(ids)

    applied = week_rows.filter(pl.col("outcome") == "applied")
    counted = [
        applied.filter(pl.col("decidedAt").is_between(n.start, n.end, closed="left")).height
        for n in nights
    ]
    received = [n.accepted for n in nights]
    print(f"\napplied per night by decidedAt: {counted}; accepted by the sandbox: {received}")
    assert counted == received
    assert received[1] == 0  # the API was down all night
    assert counted[2] == 2 * PER_NIGHT - 3  # night 2's rows, resumed, count under night 3
    assert 4 <= counted[3] < PER_NIGHT  # Ctrl-C stopped night 4 part way
    assert counted[4] == PER_NIGHT - counted[3] + 3  # its rest, and the three rerun rows
    assert sum(counted) == 4 * PER_NIGHT

    # Without `latest`, the nightly glob still shows night 3's three failures once each,
    # and no order twice.
    plain = load_results(str(runs / f"*-{JOB}-*"))
    assert plain.height == 4 * PER_NIGHT
    assert (plain["outcome"] == "failed").sum() == 3
    assert plain["orderId"].is_unique().all()
    # A resumed row carries the resume's time: night 2's run started on night 2.
    night2 = plain.filter(pl.col("runDir") == str(dirs[2]))
    assert night2["decidedAt"].min() >= nights[2].start


def test_a_run_from_before_decided_at_still_reports_and_resumes(
    week: tuple[SandboxThread, World], tmp_path: Path
) -> None:
    """Its journal has no `decided_at`: rows decided then have an empty `decidedAt`; a row
    the resume finishes gets the resume's time."""
    import sqlite3

    from pipeline.flows.resume import rebuild_reports

    sandbox, _ = week
    path = inbox_file(tmp_path, 1, cancellable(sandbox, 3))
    out = tmp_path / "old"
    run_files([path], options=options_for(sandbox, action="cancel"), env=env_for(sandbox), out=out)
    with sqlite3.connect(out / "journal.sqlite") as db:
        db.execute("ALTER TABLE results DROP COLUMN decided_at")  # as an older version wrote it
        db.execute("DELETE FROM results WHERE idx = 2")  # killed before its last row
        db.execute("UPDATE sessions SET finished_at = NULL")
    rebuilt = rebuild_reports(out)
    assert rebuilt.results["decidedAt"].null_count() == 3
    assert rebuilt.exit_code == 3  # unfinished: interim reports
    started = datetime.now(UTC)
    resumed = resume_run(out, env=env_for(sandbox))
    assert resumed.exit_code == 0
    decided = resumed.results["decidedAt"].to_list()
    assert decided[:2] == [None, None]
    assert decided[2] is not None
    assert decided[2] >= started
    assert load_results(out)["decidedAt"].to_list() == decided


def test_load_results_latest_keeps_each_source_rows_last_outcome(
    week: tuple[SandboxThread, World], tmp_path: Path
) -> None:
    sandbox, world = week
    runs = tmp_path / "runs"
    ids = cancellable(sandbox, 4)
    world.failing = {ids[1]}
    options = replace(options_for(sandbox, action="cancel", retries=0), job_name=JOB)
    first = run_files(
        [inbox_file(tmp_path, 1, ids)],
        options=options,
        env=env_for(sandbox),
        out=night_dir(runs, 1),
    )
    assert first.results["outcome"].to_list() == ["applied", "failed", "applied", "applied"]
    world.failing = set()
    again = rerun_runs([str(runs / f"*-{JOB}-*")], env=env_for(sandbox))
    assert again.run_dir is not None
    assert again.run_dir.parent == runs
    assert again.run_dir.name.endswith(f"-rerun-{JOB}")
    every = load_results(str(runs / "*"))
    assert every.height == 5  # the failed row and its rerun
    latest = load_results(str(runs / "*"), latest=True)
    assert latest["orderId"].to_list() == ids  # each order once, in the order of the rows
    assert latest["outcome"].to_list() == ["applied"] * 4
    assert latest.filter(pl.col("orderId") == ids[1])["runDir"].item() == str(again.run_dir)
    assert load_results(str(runs / f"*-{JOB}-*")).height == 4  # the nightly glob: no rerun
