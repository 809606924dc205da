"""Following up cancellations: the next night's sweep (and `quivo-bulk followup`) reads the
cancel-requested orders again in batches and reports cancelled, shipped or pending."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config.jobfile import load_job
from pipeline.config.options import Options
from pipeline.flows.sweep import sweep_exit_code, sweep_job
from pipeline.sandbox import SandboxThread, create_app
from pipeline.sandbox.config import Faults, SandboxConfig
from tests.conftest import env_for, order_ids, state_of
from tests.test_cli import cli_env
from tests.test_jobs import settled

FAST = Options(rate=500.0, concurrency=8)
CANCEL_DELAY_S = 1.0


@pytest.fixture
def shipping_sandbox() -> Iterator[SandboxThread]:
    """Cancels land after a second, but 7 of every 100 cancel-requested orders ship anyway."""
    config = SandboxConfig(
        count=400,
        seed=5,
        cancel_delay_s=CANCEL_DELAY_S,
        faults=Faults(ship_cancelled_share=0.07),
    )
    with SandboxThread(create_app(config)) as thread:
        yield thread


def nightly_job(tmp_path: Path, ids: list[int]) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "cancel.csv").write_text("orderId\n" + "\n".join(map(str, ids)) + "\n")
    settled(inbox / "cancel.csv")
    job = tmp_path / "nightly.toml"
    job.write_text(
        'input = "inbox/*.csv"\naction = "cancel"\nassume_yes = true\n'
        'runs_dir = "runs"\nstate_dir = "runs"\n'
    )
    return job


def status(sandbox: SandboxThread, order_id: int) -> str | None:
    order = state_of(sandbox).order(order_id, touch=False)
    return None if order is None else str(order["orderStatus"])


def searches(sandbox: SandboxThread) -> int:
    return state_of(sandbox).stats.by_endpoint["list"]


@pytest.mark.slow
def test_the_next_nights_sweep_reports_cancelled_and_shipped(
    shipping_sandbox: SandboxThread, tmp_path: Path
) -> None:
    """100 cancels; the sandbox ships 7 anyway and cancels the rest after a delay."""
    ids = order_ids(shipping_sandbox, "PROCESSING", 100)
    job = load_job(nightly_job(tmp_path, ids))
    env = env_for(shipping_sandbox)
    first_night = sweep_job(job, overrides=FAST, env=env)
    assert [item.status for item in first_night] == ["done"]  # nothing to follow up yet
    run = first_night[0].result
    assert run is not None
    assert run.summary.outcomes == {"applied": 100}
    time.sleep(CANCEL_DELAY_S + 0.2)  # the warehouse decides
    shipped = sorted(o for o in ids if status(shipping_sandbox, o) == "COMPLETED")
    assert len(shipped) == 7
    before = state_of(shipping_sandbox).stats.requests
    searched_before = searches(shipping_sandbox)

    second_night = sweep_job(job, overrides=FAST, env=env)

    [followup] = [item for item in second_night if item.status == "followup"]
    assert second_night[0] is followup  # before the night's files
    assert followup.followup is not None
    event = followup.followup
    assert (event["cancelled"], event["shipped"], event["pending"]) == (93, 7, 0)
    assert sorted(o["orderId"] for o in event["shippedOrders"]) == shipped
    assert all(o["cancelRequestedAt"] for o in event["shippedOrders"])
    assert searches(shipping_sandbox) - searched_before <= 3
    assert state_of(shipping_sandbox).stats.requests - before == event["requests"]
    assert event["requests"] <= 4  # a login and two searches of 50
    assert sweep_exit_code(second_night) == 1  # shipped anyway: not expected
    for order_id in shipped:
        assert f"order {order_id}" in followup.message
    report = pl.read_csv(run.run_dir / "followup.csv")
    assert report.height == 100
    assert sorted(report.filter(pl.col("followup") == "shipped")["orderId"].to_list()) == shipped
    assert report["cancelRequestedAt"].null_count() == 0
    assert pl.read_parquet(run.run_dir / "followup.parquet").height == 100
    assert (run.run_dir / "followup.csv").stat().st_mode & 0o077 == 0
    # The third night: every order is final, nothing is read again.
    quiet = state_of(shipping_sandbox).stats.requests
    third_night = sweep_job(job, overrides=FAST, env=env)
    assert [item.status for item in third_night] == ["skipped"]
    assert state_of(shipping_sandbox).stats.requests == quiet


@pytest.mark.slow
def test_followup_command_names_the_shipped_orders(
    shipping_sandbox: SandboxThread, tmp_path: Path
) -> None:
    ids = order_ids(shipping_sandbox, "PROCESSING", 30)
    job = load_job(nightly_job(tmp_path, ids))
    [night] = sweep_job(job, overrides=FAST, env=env_for(shipping_sandbox))
    assert night.result is not None
    run_dir = night.result.run_dir
    runner = CliRunner()
    env = cli_env(shipping_sandbox)
    early = runner.invoke(main, ["followup", str(run_dir)], env=env)
    assert early.exit_code == 0, early.output
    assert "0 cancelled, 0 shipped, 30 pending" in early.output
    time.sleep(CANCEL_DELAY_S + 0.2)
    late = runner.invoke(main, ["followup", str(run_dir), "--log-format", "json"], env=env)
    assert late.exit_code == 1, late.output
    [event] = [
        json.loads(line)
        for line in late.output.splitlines()
        if line.startswith("{") and '"followup"' in line
    ]
    assert (event["cancelled"], event["shipped"], event["pending"]) == (28, 2, 0)
    expected = runner.invoke(
        main, ["followup", str(run_dir), "--expected-failures", "shipped"], env=env
    )
    assert expected.exit_code == 0, expected.output
    assert "no cancel request left to follow up" in expected.output


def test_a_follow_up_that_cannot_log_in_is_reported_and_the_sweep_goes_on(
    shipping_sandbox: SandboxThread, tmp_path: Path
) -> None:
    ids = order_ids(shipping_sandbox, "PROCESSING", 5)
    job = load_job(nightly_job(tmp_path, ids))
    sweep_job(job, overrides=FAST, env=env_for(shipping_sandbox))
    (tmp_path / "inbox" / "late.csv").write_text("orderId\n4100399\n")
    settled(tmp_path / "inbox" / "late.csv")
    refused = sweep_job(job, overrides=FAST, env=env_for(shipping_sandbox, password="wrong"))
    assert [item.status for item in refused] == ["followup", "skipped", "stopped"]
    event = refused[0].followup
    assert event is not None
    assert event["exitCode"] == 3
    assert "login" in event["problem"]
    assert "wrong" not in refused[0].message
    assert sweep_exit_code(refused) == 3
    assert not (tmp_path / "runs" / "followup.csv").exists()
