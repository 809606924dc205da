"""Every started run finishes (docs/durability.md): each way a run stops, then `resume`.

The sandbox's own counts (GET /_sandbox/stats) are the judge: after `resume`
every order's change landed once, rows that finished before the stop were not
sent again, and resume sent each unfinished row exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app
from tests.conftest import env_for, options_for
from tests.test_cli import cli_env
from tests.test_durable import CONCURRENCY, mixed_input

MUTATIONS = ("patch", "address", "cancel")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Outage:
    """Sandbox middleware: the API answers 503 while `down`; at the `at`-th cancel it goes
    down, or the client gets `signal_to_send`."""

    way: str
    at: int = 30
    down: bool = False
    pid: list[int] = field(default_factory=list)
    cancels: int = 0

    def middleware(self) -> Any:
        @web.middleware
        async def outage(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self.serve(request, handler)

        return outage

    async def serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sandbox"):
            return await handler(request)
        if request.match_info.route.name == "cancel":
            self.cancels += 1
            if self.cancels == self.at:
                if self.way == "api-down-mid-run":
                    self.down = True
                elif self.way in ("ctrl-c", "sigterm") and self.pid:
                    os.kill(self.pid[0], signal.SIGINT if self.way == "ctrl-c" else signal.SIGTERM)
        if self.down:
            return web.Response(status=503, text="<html>503 Service Unavailable</html>")
        return await handler(request)


def stats(sandbox: SandboxThread) -> dict[str, Any]:
    with urllib.request.urlopen(sandbox.base_url + "/_sandbox/stats", timeout=10) as answer:
        data: dict[str, Any] = json.loads(answer.read())
    return data


def mutations(counts: dict[str, Any]) -> dict[int, int]:
    """Mutation requests that reached the API, per order."""
    return {
        int(order): sum(kinds.get(kind, 0) for kind in MUTATIONS)
        for order, kinds in counts["by_order"].items()
    }


def final_rows(run_dir: Path) -> set[int]:
    """Rows whose outcome is final (not cut off by the stop)."""
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        query = "SELECT idx FROM results WHERE error_code IS NOT 'aborted'"
        return {row[0] for row in db.execute(query)}


def run_command(path: Path, out: Path, *, retries: int = 8) -> list[str]:
    return ["run", str(path), "--out", str(out), "--rate", "200", "--concurrency",
            str(CONCURRENCY), "--retries", str(retries), "--quiet"]  # fmt: skip


WAYS = ["api-down-at-login", "api-down-mid-run", "ctrl-c", "sigterm"]


@pytest.mark.parametrize("way", WAYS)
def test_a_stopped_run_is_finished_by_resume(
    tmp_path: Path, fresh_orders: list[dict[str, object]], way: str
) -> None:
    outage = Outage(way, down=way == "api-down-at-login")
    app = create_app(SandboxConfig(cancel_delay_s=60), orders=fresh_orders)
    app.middlewares.insert(0, outage.middleware())
    with SandboxThread(app) as sandbox:
        path, rows = mixed_input(sandbox, tmp_path)
        out = tmp_path / "run"
        if way in ("ctrl-c", "sigterm"):  # a real signal to a real process
            command = [sys.executable, "-m", "pipeline", *run_command(path, out)]
            with subprocess.Popen(
                command,
                env={**os.environ, **cli_env(sandbox)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ) as process:
                outage.pid.append(process.pid)
                output, errors = process.communicate(timeout=120)
            code = process.returncode
            output += errors
        else:  # an outage longer than the grace the run rides out (60 s; 0.3 s here)
            options = options_for(sandbox, rate=200.0, concurrency=CONCURRENCY, retries=8)
            options = replace(options, api=replace(options.api, outage_grace_s=0.3))
            stopped = run_files([path], options=options, env=env_for(sandbox), out=out)
            code, output = stopped.exit_code, f"quivo-bulk resume {out}"
            assert stopped.summary.stopped.startswith(
                "login failed: HTTP 503" if way == "api-down-at-login" else "the API keeps failing"
            )
        assert code == 3, output
        assert f"quivo-bulk resume {out}" in output  # the last line says how to finish
        before = stats(sandbox)
        finished = final_rows(out)
        assert len(finished) < rows

        outage.down, outage.way = False, "none"
        resumed = CliRunner().invoke(main, ["resume", str(out), "--quiet"], env=cli_env(sandbox))
        assert resumed.exit_code == 0, resumed.output
        after = stats(sandbox)
        again = CliRunner().invoke(main, ["resume", str(out), "--quiet"], env=cli_env(sandbox))
        assert again.exit_code == 0, again.output
        assert "is finished" in again.output
        assert stats(sandbox)["requests"] == after["requests"]  # a finished run sends nothing

    results = pl.read_parquet(out / "results.parquet")
    assert results.height == rows  # every row exactly once
    assert results["row"].is_unique().all()
    assert set(results["outcome"]) == {"applied"}
    assert json.loads((out / "summary.json").read_text())["exit_code"] == 0
    order_of = dict(enumerate(results["orderId"].to_list()))
    sent_before, sent_after = mutations(before), mutations(after)
    for index, order_id in order_of.items():
        assert after["accepted_mutations"].get(str(order_id), 0) >= 1, order_id  # it landed
        if index in finished:  # finished before the stop: not sent again
            assert sent_after[order_id] == sent_before[order_id], order_id
    # Resume sent every unfinished row exactly once (the API was healthy again).
    unfinished = rows - len(finished)
    assert sum(sent_after.values()) - sum(sent_before.values()) == unfinished
    # Sent twice at most: the rows that were in flight when the run stopped.
    twice = [o for o in order_of.values() if after["accepted_mutations"].get(str(o), 0) > 1]
    assert len(twice) <= CONCURRENCY * 4
    if way in ("ctrl-c", "sigterm"):
        # An interrupt lets the requests in flight finish and refetches their orders:
        # every change that reached the API before the stop has its final outcome, and
        # resume sent no row a second time.
        reached = {i for i, order_id in order_of.items() if sent_before.get(order_id)}
        assert reached <= finished
        assert sum(sent_after.values()) == rows
    print(
        f"\n{way}: before resume {before['requests']} requests, {sum(sent_before.values())}"
        f" mutations reached the API, {sum(before['accepted_mutations'].values())} accepted,"
        f" {len(finished)}/{rows} rows final; after resume {after['requests']} requests,"
        f" {sum(sent_after.values())} mutations, {sum(after['accepted_mutations'].values())}"
        f" accepted; resume sent {unfinished} rows; orders changed twice: {len(twice)}"
    )


def test_two_resumes_at_once_the_second_exits_2(
    tmp_path: Path, fresh_orders: list[dict[str, object]]
) -> None:
    outage = Outage("api-down-at-login", down=True)
    app = create_app(SandboxConfig(cancel_delay_s=60), orders=fresh_orders)
    app.middlewares.insert(0, outage.middleware())
    with SandboxThread(app) as sandbox:
        path, _ = mixed_input(sandbox, tmp_path)
        out = tmp_path / "run"
        options = options_for(sandbox, retries=1)
        options = replace(options, api=replace(options.api, outage_grace_s=0.0))
        stopped = run_files([path], options=options, env=env_for(sandbox), out=out)
        assert stopped.exit_code == 3
        outage.down = False
        from pipeline.store.rundir import run_lock

        held = threading.Event()
        release = threading.Event()

        def first_resume() -> None:  # another process holding the run directory
            with run_lock(out):
                held.set()
                release.wait(30)

        holder = threading.Thread(target=first_resume)
        holder.start()
        held.wait(10)
        sent = stats(sandbox)["requests"]
        second = subprocess.run(
            [sys.executable, "-m", "pipeline", "resume", str(out), "--quiet"],
            env={**os.environ, **cli_env(sandbox)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        release.set()
        holder.join()
        assert second.returncode == 2, second.stderr
        assert "in use by another quivo-bulk" in second.stderr
        assert stats(sandbox)["requests"] == sent  # the second sent nothing


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_shown_rate_and_eta_come_from_a_sliding_window() -> None:
    """At a steady 10 requests/s after a burst of 30, the bar shows 10/s, not the average."""
    from pipeline.core.outcomes import Outcome
    from pipeline.send.progress import Progress, format_eta

    clock = Clock()
    progress = Progress(100, clock=clock)
    for _ in range(30):  # a burst at the start (e.g. a retry storm)
        progress.request()
    for _ in range(100):  # then 10 s at exactly 10/s, one row per request
        clock.now += 0.1
        progress.request()
        progress.rows([Outcome.APPLIED] if progress.done < 90 else [])
    assert progress.rate_per_s() == pytest.approx(10.0, abs=0.3)
    assert progress.eta_s() == pytest.approx(1.0, abs=0.5)  # 10 rows left at ~10 rows/s
    assert [format_eta(s) for s in (None, 65.0, 3909.0)] == ["-", "1:05", "1:05:09"]


def test_the_shown_rate_never_exceeds_the_pacer_s_rate() -> None:
    """At --rate 10 the pacer sends on a 0.1 s grid from the first request on; the bar,
    looked at any moment, never shows more than 10/s (it showed 10.5/s after 2 s)."""
    from pipeline.send.progress import Progress

    clock = Clock()
    progress = Progress(100, clock=clock)
    shown = []
    for tick in range(80):  # 8 s, a request on every 0.1 s tick from the start on
        clock.now = 100.0 + tick / 10
        progress.request()
        for look in (0.0, 0.05):
            clock.now = 100.0 + tick / 10 + look
            shown.append(progress.rate_per_s())
    assert max(shown) <= 10.0 + 1e-9
    assert shown[-1] == pytest.approx(10.0, abs=0.2)


def test_the_last_status_line_gives_the_run_s_average_rate() -> None:
    """Without a terminal, a run's last line showed '(0.0/s)' when it lasted under a
    second or its last requests were over 5 s old; it now gives the run's average."""
    import io

    from pipeline.core.outcomes import Outcome
    from pipeline.send.progress import StatusLines

    clock = Clock()
    stream = io.StringIO()
    progress = StatusLines(6, stream=stream)
    progress._clock = clock  # the run's sends on a controlled clock
    with progress:
        for _ in range(6):  # 6 requests 0.1 s apart: half a second at 10/s
            progress.request()
            progress.rows([Outcome.APPLIED])
            clock.now += 0.1
        clock.now += 30.0  # the report step, long after the last request
    assert progress.average_rate_per_s() == pytest.approx(10.0)
    assert stream.getvalue().splitlines()[-1].endswith("6 requests (10.0/s on average)")
