"""The files of one sweep share one pacer and one adaptive rate (docs/guide/nightly.md,
docs/rates.md).

A sweep runs its inbox files one after another; the server sees one client.
These run the sweep from the command line against the sandbox and check the
sandbox's own arrival times across the whole sweep, file boundaries included.
Wall-clock tests, marked slow, with loose tolerances.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.sandbox import SandboxConfig, SandboxThread
from tests.conftest import (
    ARRIVAL_JITTER_S,
    most_in_any_window,
    order_ids,
    send_stamps,
    state_of,
)
from tests.test_cli import cli_env
from tests.test_jobs import settled


def inbox_job(tmp_path: Path, ids: list[int], *, files: int, rate: str) -> Path:
    """A cancel sweep over `files` inbox files sharing out `ids`; returns the job file."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    per_file = len(ids) // files
    for number in range(files):
        chunk = ids[number * per_file : (number + 1) * per_file]
        path = inbox / f"night-{number}.csv"
        path.write_text("orderId\n" + "".join(f"{order_id}\n" for order_id in chunk))
        settled(path)
    job = tmp_path / "sweep.toml"
    job.write_text(
        f'name = "sweep"\ninput = "inbox/*.csv"\naction = "cancel"\nassume_yes = true\n'
        f'runs_dir = "runs"\nrate = "{rate}"\nconcurrency = 4\n'
    )
    return job


def sweep(job: Path, sandbox: SandboxThread) -> tuple[int, list[dict[str, object]], list[float]]:
    """Run the job's sweep: its exit code, its files, and the send times it logged."""
    result = CliRunner().invoke(
        main, ["--log-level", "debug", "run", "--job", str(job), "--quiet"], env=cli_env(sandbox)
    )
    finished = [line for line in result.output.splitlines() if '"sweep_finished"' in line]
    assert finished, result.output
    files = json.loads(finished[-1][finished[-1].index("{") :])["files"]
    return result.exit_code, files, send_stamps(result.stderr)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rate", "count", "period_s"), [("2", 2, 1.0), ("5/2s", 5, 2.0)], ids=["2-per-s", "5-per-2s"]
)
def test_no_window_of_a_sweep_holds_more_than_the_rate_across_file_boundaries(
    sandbox: SandboxThread, tmp_path: Path, rate: str, count: int, period_s: float
) -> None:
    ids = order_ids(sandbox, "PROCESSING", 8)
    job = inbox_job(tmp_path, ids, files=4, rate=rate)
    exit_code, files, sent = sweep(job, sandbox)
    assert exit_code == 0
    assert [entry["status"] for entry in files] == ["done"] * 4
    stats = state_of(sandbox).stats
    assert [stats.accepted_mutations[order_id] for order_id in ids] == [1] * 8
    # Each file: a login, then a cancel and a refetch per order (one sweep, four runs).
    assert len(stats.arrivals) >= 4 * 5
    assert len(sent) == len(stats.arrivals)
    most = most_in_any_window(sent, period_s)
    print(f"\nsweep at {rate}: {len(sent)} requests, at most {most} sent in {period_s:g} s")
    assert most <= count
    assert most_in_any_window(stats.arrivals, period_s, slack_s=ARRIVAL_JITTER_S) <= count
    if period_s > 1:
        assert most_in_any_window(sent, 1.0) <= 3  # ceil(2.5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "sandbox",
    [SandboxConfig(rate_limit_per_s=12, retry_after="none", cancel_delay_s=60)],
    indirect=True,
)
def test_the_next_file_of_a_sweep_starts_at_the_rate_the_first_found(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    # auto starts at 5/s and finds the sandbox's 12/s during the first (long) file.
    ids = order_ids(sandbox, "PROCESSING", 50)
    job = inbox_job(tmp_path, ids[:40], files=1, rate="auto:60")
    second = tmp_path / "inbox" / "night-9.csv"  # sorted after the first
    second.write_text("orderId\n" + "".join(f"{order_id}\n" for order_id in ids[40:]))
    settled(second)
    exit_code, files, _ = sweep(job, sandbox)
    assert exit_code == 0
    assert [entry["status"] for entry in files] == ["done", "done"]
    first_summary = json.loads((Path(str(files[0]["runDir"])) / "summary.json").read_text())
    assert first_summary["rate"]["throttled_at_per_s"] is not None  # it found the limit
    stats = state_of(sandbox).stats
    arrivals = zip(stats.arrivals, stats.routes, strict=True)
    logins = [at for at, route in arrivals if route == "login"]
    second_start = logins[1]  # each file logs in first (a login answered 429 is tried again)
    in_first_second = [at for at in stats.arrivals if second_start <= at < second_start + 1.0]
    # Started over at auto's 5/s, no second of the new file could hold more than 5.
    print(f"\nthe second file's first second: {len(in_first_second)} requests")
    assert len(in_first_second) >= 8
    assert most_in_any_window(stats.arrivals, 1.0) <= 13  # never a burst over the limit
