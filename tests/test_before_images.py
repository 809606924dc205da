"""Before-images, truthful outcomes and guards against the sandbox (docs/plan-apply-undo.md, issue
11)."""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config.jobfile import load_job
from pipeline.config.options import Options
from pipeline.config.settings import resolve_options
from pipeline.flows.resume import resume_run
from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxThread
from tests.conftest import (
    API_KEY,
    PASSWORD,
    REPO,
    USERNAME,
    comment_file,
    env_for,
    options_for,
    order_ids,
    state_of,
)
from tests.test_plan_apply_undo import all_mutations, mutations


def requests_of(sandbox: SandboxThread, order_id: int) -> dict[str, int]:
    return dict(state_of(sandbox).stats.by_order.get(order_id, {}))


def test_a_row_predicted_unchanged_costs_one_read_and_nothing_else(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    path, ids = comment_file(sandbox, tmp_path, 5, "checked")
    env = env_for(sandbox)
    first = run_files(
        [path], options=options_for(sandbox, action="update"), env=env, out=tmp_path / "runs" / "1"
    )
    assert set(first.results["outcome"]) == {"applied"}
    counted = {order_id: requests_of(sandbox, order_id) for order_id in ids}
    again = run_files(
        [path], options=options_for(sandbox, action="update"), env=env, out=tmp_path / "runs" / "2"
    )
    assert set(again.results["outcome"]) == {"unchanged"}
    assert again.exit_code == 0
    for order_id in ids:
        now = requests_of(sandbox, order_id)
        assert now == {**counted[order_id], "refetch": counted[order_id]["refetch"] + 1}
    kinds = again.summary.requests_by_kind
    assert (kinds["read"], kinds["mutation"], kinds["refetch"]) == (5, 0, 0)
    # The file was already run from the same runs directory: the run says which.
    assert any("already run" in w and "runs/1" in w for w in again.warnings)
    assert again.results["changes"].to_list() == [""] * 5


def test_snapshot_never_reads_nothing_first(sandbox: SandboxThread, tmp_path: Path) -> None:
    path, _ = comment_file(sandbox, tmp_path, 3, "blind")
    result = run_files(
        [path],
        options=options_for(sandbox, action="update", snapshot="never"),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert set(result.results["outcome"]) == {"applied"}
    kinds = result.summary.requests_by_kind
    assert (kinds["read"], kinds["mutation"], kinds["refetch"]) == (0, 3, 3)
    assert not (tmp_path / "run" / "before.parquet").exists() or (
        pl.read_parquet(tmp_path / "run" / "before.parquet").height == 0
    )
    assert result.results["changes"].null_count() == 3


def test_changes_column_and_before_parquet(sandbox: SandboxThread, tmp_path: Path) -> None:
    [order_id] = order_ids(sandbox, "PROCESSING", 1)
    order = state_of(sandbox).order(order_id, touch=False)
    assert order is not None
    old = order["comment"]
    path = tmp_path / "one.csv"
    path.write_text(f"orderId,comment\n{order_id},brand new\n")
    result = run_files(
        [path],
        options=options_for(sandbox, action="update"),
        env=env_for(sandbox),
        out=tmp_path / "r",
    )
    assert result.results["changes"].to_list() == [f"comment: {old or '(empty)'} -> brand new"]
    images = pl.read_parquet(tmp_path / "r" / "before.parquet")
    assert images["orderId"].to_list() == [order_id]
    assert images["comment"].to_list() == [old]


@pytest.mark.parametrize("snapshot", ["changes", "never"])
def test_a_refused_case_only_correction_is_failed_not_unchanged(
    sandbox: SandboxThread, tmp_path: Path, snapshot: str
) -> None:
    [order_id] = order_ids(sandbox, "COMPLETED", 1)
    order = state_of(sandbox).order(order_id, touch=False)
    assert order is not None
    city = order["deliveryAddress"]["city"]
    path = tmp_path / "case.csv"
    path.write_text(f"orderId,city\n{order_id},{city.upper()}\n")
    result = run_files(
        [path],
        options=options_for(sandbox, action="update", snapshot=snapshot),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    row = result.results.row(0, named=True)
    assert (row["outcome"], row["errorCode"]) == ("failed", "status_conflict")
    assert "COMPLETED" in row["error"]
    assert result.exit_code == 1
    errors = pl.read_csv(tmp_path / "run" / "errors.csv", infer_schema=False)
    assert errors["errorCode"].to_list() == ["status_conflict"]


def test_decomposed_unicode_is_sent_and_compared_in_nfc(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    [order_id] = order_ids(sandbox, "PROCESSING", 1)
    decomposed = unicodedata.normalize("NFD", "José Müller-Öztürk")
    assert decomposed != "José Müller-Öztürk"
    path = tmp_path / "mac.csv"
    path.write_text(f"orderId,name\n{order_id},{decomposed}\n", encoding="utf-8")
    env = env_for(sandbox)
    options = options_for(sandbox, action="update")
    first = run_files([path], options=options, env=env, out=tmp_path / "runs" / "1")
    assert first.results["outcome"].to_list() == ["applied"]
    order = state_of(sandbox).order(order_id, touch=False)
    assert order is not None
    assert order["deliveryAddress"]["name1"] == "José Müller-Öztürk"  # NFC on the wire
    again = run_files([path], options=options, env=env, out=tmp_path / "runs" / "2")
    assert again.results["outcome"].to_list() == ["unchanged"]


def test_max_cancels_exits_2_before_any_mutation(sandbox: SandboxThread, tmp_path: Path) -> None:
    ids = order_ids(sandbox, "PROCESSING", 4)
    path = tmp_path / "cancel.csv"
    path.write_text("orderId\n" + "".join(f"{i}\n" for i in ids))
    env = {
        "QUIVO_BASE_URL": sandbox.base_url,
        "QUIVO_API_KEY": API_KEY,
        "QUIVO_USERNAME": USERNAME,
        "QUIVO_PASSWORD": PASSWORD,
    }
    common = ["run", str(path), "--action", "cancel", "--rate", "500", "--quiet"]
    result = CliRunner().invoke(
        main, [*common, "--max-cancels", "3", "--out", str(tmp_path / "r1")], env=env
    )
    assert result.exit_code == 2, result.output
    assert "would cancel 4 orders" in result.output
    assert "--max-cancels" in result.output
    result = CliRunner().invoke(
        main, [*common, "--max-changes", "2", "--out", str(tmp_path / "r2")], env=env
    )
    assert result.exit_code == 2, result.output
    assert "would change 4 orders" in result.output
    assert all_mutations(sandbox) == 0
    assert state_of(sandbox).stats.logins == 0  # not even a login
    result = CliRunner().invoke(
        main, [*common, "--max-cancels", "4", "--out", str(tmp_path / "r3")], env=env
    )
    assert result.exit_code == 0, result.output
    assert all_mutations(sandbox) == 4


def test_the_nightly_job_sets_max_cancels() -> None:
    job = load_job(REPO / "jobs" / "nightly-cancellation-sweep.toml")
    assert job.max_cancels is not None
    options = resolve_options(Options(), job=job, env=None)
    assert options.max_cancels == job.max_cancels


def test_the_breaker_stops_a_systematically_wrong_file(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    good = order_ids(sandbox, "PROCESSING", 40)
    path = tmp_path / "shifted.csv"
    # A shifted export: 30 order IDs that do not exist, then real ones.
    path.write_text(
        "orderId,comment\n"
        + "".join(f"{9_000_000 + n},x\n" for n in range(30))
        + "".join(f"{i},y\n" for i in good)
    )
    env = env_for(sandbox)
    options = options_for(sandbox, action="update", concurrency=1)
    result = run_files([path], options=options, env=env, out=tmp_path / "run")
    assert result.exit_code == 3
    assert "order_not_found" in (result.summary.stopped or "")
    outcomes = result.results["outcome"].to_list()
    assert outcomes.count("not_attempted") >= 40
    assert sum(mutations(sandbox, i) for i in good) == 0  # stopped before the real orders
    # The file was right after all: the stopped run is finished without the breaker.
    finished = resume_run(tmp_path / "run", overrides=Options(breaker=False), env=env)
    assert finished.results["outcome"].to_list().count("applied") == 40


def test_a_stopped_run_counts_only_the_requests_that_went_out(
    sandbox: SandboxThread, in_copy: Path
) -> None:
    """The breaker stops the run while reads wait for the pacer: those were journaled but
    never sent. summary.json and the table count what the server received (they counted
    the unsent ones too: 16 requests, 29.5/s at --rate 20, where the server saw 12)."""
    Path("shifted.csv").write_text(
        "orderId,comment\n" + "".join(f"{9_000_000 + n},x\n" for n in range(60))
    )
    result = CliRunner().invoke(
        main, ["run", "shifted.csv", "--action", "update", "--rate", "20", "--out", "runs/r"]
    )
    assert result.exit_code == 3, result.output
    with sqlite3.connect("runs/r/journal.sqlite") as db:
        [(unsent,)] = db.execute("SELECT COUNT(*) FROM requests WHERE error LIKE 'not sent%'")
    assert unsent > 0  # the scenario: requests stopped before they left
    summary = json.loads(Path("runs/r/summary.json").read_text())
    received = state_of(sandbox).stats.requests
    assert summary["requests"] == received
    assert sum(summary["requests_by_kind"].values()) == received
    assert re.search(rf"│ requests +│ +{received} │", result.output), result.output


def test_a_file_already_run_is_named_and_can_be_declined_before_sending(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    from pipeline.core.errors import OptionsError

    path, ids = comment_file(sandbox, tmp_path, 3, "twice")
    env = env_for(sandbox)
    options = options_for(sandbox, action="update")
    first = run_files([path], options=options, env=env, out=tmp_path / "runs" / "first")
    sent = all_mutations(sandbox)
    asked: list[str] = []

    def decline(message: str) -> bool:
        asked.append(message)
        return False

    with pytest.raises(OptionsError, match="not confirmed"):
        run_files(
            [path], options=options, env=env, out=tmp_path / "runs" / "2", confirm_again=decline
        )
    assert len(asked) == 1
    assert str(first.run_dir) in asked[0]
    assert all_mutations(sandbox) == sent  # nothing sent
    assert not (tmp_path / "runs" / "2" / "journal.sqlite").exists()
    assert len(ids) == 3
