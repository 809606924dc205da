"""`--rate` end to end against the sandbox: a count per period, and `--rate auto`
(docs/design/sending.md, docs/rates.md).

Wall-clock tests, marked slow, with loose tolerances."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app
from tests.conftest import (
    ARRIVAL_JITTER_S,
    comment_file,
    env_for,
    most_in_any_window,
    options_for,
    order_ids,
    send_stamps,
    state_of,
)
from tests.test_cli import cli_env

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.mark.slow
def test_a_count_per_period_is_exact_and_bounded_over_its_period(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    path, _ = comment_file(sandbox, tmp_path, 8, "paced")  # login + 8 x (read, PATCH, refetch)
    result = CliRunner().invoke(
        main,
        ["--log-level", "debug", "run", str(path), "--action", "update", "--rate", "5/2s",
         "--out", str(tmp_path / "r"), "--quiet"],
        env=cli_env(sandbox),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    arrivals = state_of(sandbox).stats.arrivals
    assert len(arrivals) >= 17
    sent = send_stamps(result.stderr)
    assert len(sent) == len(arrivals)
    assert most_in_any_window(sent, 2.0) <= 5
    assert most_in_any_window(sent, 1.0) <= 3
    assert most_in_any_window(arrivals, 2.0, slack_s=ARRIVAL_JITTER_S) <= 5
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert achieved > 2.3  # 2.5/s, not 2 per second rounded down
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["rate"]["limit_per_s"] == 2.5
    assert summary["rate"]["period_s"] == 2.0


@pytest.mark.slow(seconds=20)
@pytest.mark.parametrize(
    "sandbox", [SandboxConfig(rate_limit_per_s=20, retry_after="none")], indirect=True
)
def test_rate_auto_finds_the_limit_and_the_job_remembers_it(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    path, _ = comment_file(sandbox, tmp_path, 100, "auto")
    job = tmp_path / "job.toml"
    job.write_text(
        f'name = "auto"\ninput = "{path.name}"\naction = "update"\nrate = "auto:60"\n'
        'runs_dir = "runs"\n'
    )
    first = CliRunner().invoke(main, ["run", "--job", str(job), "--quiet"], env=cli_env(sandbox))
    assert first.exit_code == 0, first.output
    assert "rate found" in first.output
    run_dir = next((tmp_path / "runs").glob("*-auto"))
    summary = json.loads((run_dir / "summary.json").read_text())
    found = summary["rate"]["found_per_s"]
    assert summary["rate"]["auto"] is True
    assert 12 <= found <= 20  # just below the server's 20/s
    stats = state_of(sandbox).stats
    assert stats.rate_limited <= 0.05 * stats.requests
    assert most_in_any_window(stats.arrivals, 1.0) <= 60
    memory = json.loads((tmp_path / "runs" / "auto.rate.json").read_text())
    assert memory["found_per_s"] == found
    assert (tmp_path / "runs" / "auto.rate.json").stat().st_mode & 0o077 == 0

    second = CliRunner().invoke(
        main, ["run", "--job", str(job), "--quiet", "--out", str(tmp_path / "again")],
        env=cli_env(sandbox),
    )  # fmt: skip
    assert second.exit_code == 0, second.output
    with sqlite3.connect(tmp_path / "again" / "journal.sqlite") as db:
        manifest = json.loads(db.execute("SELECT body FROM manifest").fetchone()[0])
    assert manifest["options"]["api"]["rate_start_per_s"] == found


@dataclass
class DownAfter:
    """Sandbox middleware: after the `at`-th PATCH the API answers 503 until `down` is unset."""

    at: int
    patches: int = 0
    down: bool = False

    def middleware(self) -> Any:
        @web.middleware
        async def outage(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not request.path.startswith("/_sandbox"):
                if request.match_info.route.name == "patch":
                    self.patches += 1
                    self.down = self.down or self.patches >= self.at
                if self.down:
                    return web.Response(status=503, text="<html>503 Service Unavailable</html>")
            return await handler(request)

        return outage


@pytest.mark.slow(seconds=20)
def test_resume_of_an_auto_run_continues_at_the_rate_it_found(
    tmp_path: Path, fresh_orders: list[dict[str, object]]
) -> None:
    down = DownAfter(at=90)
    app = create_app(
        SandboxConfig(rate_limit_per_s=20, retry_after="none", cancel_delay_s=60),
        orders=fresh_orders,
    )
    app.middlewares.insert(0, down.middleware())
    with SandboxThread(app) as sandbox:
        path, ids = comment_file(sandbox, tmp_path, 150, "resumed")
        options = options_for(
            sandbox, rate="auto:60", concurrency=4, snapshot="never", action="update"
        )
        options = replace(options, api=replace(options.api, outage_grace_s=0.3))
        out = tmp_path / "run"
        stopped = run_files([path], options=options, env=env_for(sandbox), out=out)
        assert stopped.exit_code == 3
        assert stopped.summary.stopped.startswith("the API keeps failing")
        throttled_at = stopped.summary.rate.throttled_at_per_s
        assert throttled_at is not None
        assert 12 <= throttled_at <= 21  # it found the 20/s limit
        before = len(state_of(sandbox).stats.arrivals)

        down.down, down.at = False, 10**9
        resumed = CliRunner().invoke(main, ["resume", str(out), "--quiet"], env=cli_env(sandbox))
        assert resumed.exit_code == 0, resumed.output
        arrivals = state_of(sandbox).stats.arrivals[before:]

    # Its first requests go at the rate found (0.97 x ~20/s: 12 in about 0.6 s), not at
    # the safe start (5/s, doubling each second: the 12th request only after 1.5 s).
    assert len(arrivals) > 12
    print(f"\nresume: first 12 requests in {arrivals[11] - arrivals[0]:.2f} s")
    assert arrivals[11] - arrivals[0] < 1.0
    assert most_in_any_window(arrivals, 1.0) <= 21
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcomes"] == {"applied": len(ids)}
    assert summary["rate"]["throttled_at_per_s"] is not None
    assert summary["rate"]["found_per_s"] >= 0.9 * 0.97 * throttled_at


def test_a_rerun_of_a_job_run_starts_at_the_jobs_remembered_rate(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    (good,) = order_ids(sandbox, "PROCESSING", 1)
    path = tmp_path / "comments.csv"
    path.write_text(f"orderId,comment\n{good},kept\n999999999,no such order\n")
    job = tmp_path / "job.toml"
    job.write_text(
        f'name = "nightly"\ninput = "{path.name}"\naction = "update"\nrate = "auto"\n'
        'runs_dir = "runs"\n'
    )
    first = CliRunner().invoke(main, ["run", "--job", str(job), "--quiet"], env=cli_env(sandbox))
    assert first.exit_code == 1, first.output  # the unknown order failed for good
    run_dir = next((tmp_path / "runs").glob("*-nightly"))
    memory = tmp_path / "runs" / "nightly.rate.json"
    memory.write_text(json.dumps({"found_per_s": 17.5}))  # a later run of the job found 17.5/s

    rerun = CliRunner().invoke(
        main, ["rerun", str(run_dir), "--include-permanent", "--quiet", "--out",
               str(tmp_path / "rerun")],
        env=cli_env(sandbox),
    )  # fmt: skip
    assert rerun.exit_code == 1, rerun.output
    with sqlite3.connect(tmp_path / "rerun" / "journal.sqlite") as db:
        manifest = json.loads(db.execute("SELECT body FROM manifest").fetchone()[0])
    assert manifest["options"]["api"]["rate_start_per_s"] == 17.5
    assert manifest["options"]["api"]["rate_auto"] is True
