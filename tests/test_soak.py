"""Chaos soak: 5,000 mixed rows with every fault at once, then again with kill -9 and resume.

Invariants, from the reports and from the sandbox's own final state:
1. every input row is in the results exactly once;
2. every row reported `applied` has its change on the sandbox's order;
3. a row reported `invalid` or `not_attempted` changed nothing on the server, and one
   reported `failed` changed nothing unless its error says the answer was lost;
4. logins stay within run time / token lifetime plus a small constant (counting the
   tokens the client used: a login whose answer a fault lost is retried, rightly).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.flows.run import run_files
from pipeline.sandbox import Faults, SandboxConfig, SandboxState, SandboxThread, create_app
from pipeline.sandbox.orders import FIRST_ORDER_ID
from tests.conftest import env_for, options_for, state_of
from tests.test_cli import cli_env

ROWS = 5_000
TOKEN_TTL_S = 3.0
CHAOS = SandboxConfig(
    count=ROWS + 100,
    seed=23,
    token_ttl_s=TOKEN_TTL_S,
    cancel_delay_s=2.0,
    rate_limit_per_s=150,  # well under what the client reaches in-process (~200/s)
    faults=Faults(
        error_share=0.10,
        drop_share=0.03,
        malformed_share=0.02,
        slow_share=0.05,
        slow_s=1.3,  # past the client's 1 s timeout
        complete_share=0.05,
    ),
)
# A failed row whose answer was lost may have landed; its error says so by its code.
ANSWER_LOST = {"timeout", "network", "server_error", "bad_response", "rate_limited", "aborted"}


def soak_input(folder: Path) -> Path:
    """Updates, address changes and cancels over orders in every status; some invalid rows."""
    lines = ["orderId,action,comment,name,street,zip,city,countryIso2"]
    for i in range(ROWS):
        order_id = FIRST_ORDER_ID + i
        if i % 97 == 0:
            lines.append(f"{order_id},update,{'x' * 251},,,,,")  # invalid: comment_too_long
        elif i % 10 < 5:
            lines.append(f"{order_id},update,soak {order_id},,,,,")
        elif i % 10 < 7:
            lines.append(f"{order_id},address,,Soak {order_id},Soakgasse {i % 90},1010,Wien,AT")
        else:
            lines.append(f"{order_id},cancel,,,,,,")
    path = folder / "soak.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def landed(row: dict[str, Any], order: dict[str, Any]) -> bool:
    order_id = row["orderId"]
    if row["action"] == "update":
        return bool(order.get("comment") == f"soak {order_id}")
    if row["action"] == "address":
        delivery = order["deliveryAddress"]
        return bool(delivery["name1"] == f"Soak {order_id}" and delivery["city"] == "Wien")
    return bool(order.get("cancelRequestedAt")) or order["orderStatus"] == "CANCELLED"


def check_invariants(
    results: pl.DataFrame,
    state: SandboxState,
    wall_s: float,
    *,
    failed_changed_nothing: bool = True,
) -> dict[str, int]:
    assert results["row"].to_list() == list(range(2, ROWS + 2))  # 1 (line numbers: header = 1)
    accepted = state.stats.accepted_mutations
    for row in results.iter_rows(named=True):
        order = state.order(row["orderId"], touch=False)
        assert order is not None
        if row["outcome"] == "applied":  # 2
            assert landed(row, order), row
        if row["outcome"] in ("invalid", "not_attempted"):  # 3
            assert accepted[row["orderId"]] == 0, row
        if (
            failed_changed_nothing
            and row["outcome"] == "failed"
            and row["errorCode"] not in ANSWER_LOST
        ):
            assert accepted[row["orderId"]] == 0, row
    # 4: logins the client went on to use (a login whose answer a fault lost is retried)
    assert len(state.stats.tokens_used) <= wall_s / TOKEN_TTL_S + 3
    counts: dict[str, int] = dict(results["outcome"].value_counts().iter_rows())
    return counts


def soak_options(sandbox: SandboxThread) -> Any:
    options = options_for(sandbox, rate=300.0, concurrency=16, retries=6, timeout_s=1.0)
    return replace(options, api=replace(options.api, backoff_base_s=0.05, backoff_cap_s=1.0))


@pytest.mark.slow(seconds=120)
def test_chaos_soak(tmp_path: Path) -> None:
    with SandboxThread(create_app(CHAOS)) as sandbox:
        started = time.monotonic()
        result = run_files(
            [soak_input(tmp_path)],
            options=soak_options(sandbox),
            env=env_for(sandbox),
            out=tmp_path / "run",
        )
        wall_s = time.monotonic() - started
        counts = check_invariants(result.results, state_of(sandbox), wall_s)
        stats = state_of(sandbox).stats
    assert counts["invalid"] == len(range(0, ROWS, 97))
    assert result.results.filter(pl.col("errorCode") == "unauthorized").height == 0
    assert counts["applied"] > ROWS * 0.5
    assert sum(stats.faults.values()) > 500  # the faults really happened
    assert stats.rate_limited > 0
    assert stats.auth_failures["expired_token"] > 0
    assert result.summary.retries > 0
    retries = result.summary.retries
    print(f"\nsoak: {counts}, faults {dict(stats.faults)}, 429s {stats.rate_limited},"
          f" logins {stats.logins}, retries {retries}, {wall_s:.0f} s")  # fmt: skip


@pytest.mark.slow(seconds=150)
def test_chaos_soak_killed_and_resumed(tmp_path: Path) -> None:
    with SandboxThread(create_app(CHAOS)) as sandbox:
        out = tmp_path / "run"
        started = time.monotonic()
        command = [sys.executable, "-m", "pipeline", "run", str(soak_input(tmp_path)),
                   "--rate", "300", "--concurrency", "16", "--retries", "6", "--timeout", "1",
                   "--out", str(out), "--quiet"]  # fmt: skip
        with subprocess.Popen(
            command, env={**os.environ, **cli_env(sandbox)}, stderr=subprocess.DEVNULL
        ) as process:
            while state_of(sandbox).stats.requests < 4_000 and process.poll() is None:
                time.sleep(0.05)
            os.kill(process.pid, signal.SIGKILL)
        resumed = CliRunner().invoke(
            main, ["resume", str(out), "--quiet", "--rate", "300"], env=cli_env(sandbox)
        )
        assert resumed.exit_code in (0, 1), resumed.output
        wall_s = time.monotonic() - started
        results = pl.read_parquet(out / "results.parquet")
        counts = check_invariants(results, state_of(sandbox), wall_s)
    assert "not_attempted" not in counts
    assert results.filter(pl.col("errorCode") == "unauthorized").height == 0
    print(f"\nsoak with kill -9: {counts}, {wall_s:.0f} s")
