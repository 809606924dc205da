"""A storm of 401s stops a run; ordinary token expiry does not (issue 9 item 7,
docs/design/sending.md).

The sandbox's `refuse_token` fault refuses a share of requests whose token is
live: every refusal costs the client a login and a retry. The run must see the
storm, stop resumably (exit 3) with one line that names the 401s, and not log in
hundreds of times. Expiry (a short token TTL) is tested in tests/test_run.py,
tests/test_network.py and the soak.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.api.health import Health, TokenRefusals
from pipeline.cli import main
from pipeline.sandbox import SandboxConfig, SandboxThread
from pipeline.sandbox.config import Faults
from tests.conftest import comment_file, state_of
from tests.test_cli import cli_env

STORM = SandboxConfig(cancel_delay_s=60, faults=Faults(refuse_token_share=0.4), seed=7)


@pytest.mark.parametrize("sandbox", [STORM], indirect=True)
@pytest.mark.parametrize("concurrency", ["4", "1"])
def test_a_401_storm_stops_the_run_resumably_without_a_login_per_request(
    sandbox: SandboxThread, tmp_path: Path, concurrency: str
) -> None:
    path, ids = comment_file(sandbox, tmp_path, 80, "storm")
    out = tmp_path / "run"
    command = ["run", str(path), "--action", "update", "--out", str(out), "--quiet"]
    fast = ["--rate", "500", "--concurrency", concurrency]
    stopped = CliRunner().invoke(main, [*command, *fast], env=cli_env(sandbox))
    assert stopped.exit_code == 3, stopped.output
    stats = state_of(sandbox).stats
    assert stats.auth_failures["refused_live_token"] >= 5  # the storm happened
    assert stats.logins <= 30  # not a login for every refused request of 80 rows
    print(f"\nstorm at concurrency {concurrency}: {stats.logins} logins, {stats.requests} requests")
    stopping = [line for line in stopped.output.splitlines() if "stopping:" in line]
    assert len(stopping) == 1, stopped.output
    assert "401" in stopping[0]
    assert "refusing" in stopping[0]
    assert "wrong credentials" not in stopped.output  # the credentials worked all along
    results = pl.read_parquet(out / "results.parquet")
    assert "not_attempted" in set(results["outcome"])
    assert "resume" in stopped.output  # the next step names the command

    state_of(sandbox).config = replace(STORM, faults=Faults())  # the storm is over
    resumed = CliRunner().invoke(main, ["resume", str(out), "--quiet"], env=cli_env(sandbox))
    assert resumed.exit_code == 0, resumed.output
    results = pl.read_parquet(out / "results.parquet")
    assert results.height == len(ids)
    assert set(results["outcome"]) == {"applied"}
    for order_id in ids:
        order = state_of(sandbox).order(order_id, touch=False)
        assert order is not None
        assert order["comment"] == f"storm {order_id}"


def _counted(events: list[tuple[str, str, int]]) -> list[int]:
    """Feed answers in arrival order: (token, "401" or "ok", number of the request, in the
    order requests left); a 401 arrives when requests up to `sent + 2` have left."""
    refusals = TokenRefusals()
    counts = []
    for token, answer, sent in events:
        if answer == "401":
            counts.append(refusals.refused(token, next_send=sent + 3))
        else:
            counts.append(refusals.accepted(token, sent=sent))
    return counts


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # Expiry: t1 serves, then is refused by the requests in flight with it; t2 serves.
        ([("t1", "ok", 1), ("t1", "ok", 2), ("t1", "401", 3), ("t1", "401", 4),
          ("t1", "401", 5), ("t2", "ok", 6), ("t2", "ok", 7)],
         [0, 0, 1, 0, 0, 0, 0]),
        # Expiry with requests that reached the server in another order than they left:
        # sent before the refusal was seen, accepted after it.
        ([("t1", "401", 3), ("t1", "ok", 2), ("t1", "ok", 4), ("t1", "ok", 5),
          ("t2", "ok", 6)],
         [1, 0, 0, 0, 0]),
        # A storm: t1 refused, then accepted on a request sent after the refusal was
        # seen: it was live; its refusals in between count then, every later one at once.
        ([("t1", "ok", 1), ("t1", "401", 2), ("t1", "401", 3), ("t1", "ok", 6),
          ("t1", "401", 7)],
         [0, 1, 0, 1, 1]),
        # A sequential storm: each renewed token soon refused: one count per token.
        ([("t1", "ok", 1), ("t1", "401", 2), ("t2", "ok", 3), ("t2", "401", 4),
          ("t3", "401", 5)],
         [0, 1, 0, 1, 1]),
    ],
    ids=["expiry", "expiry-slow-answer", "live-token-refused", "sequential-storm"],
)  # fmt: skip
def test_which_401s_count(events: list[tuple[str, str, int]], expected: list[int]) -> None:
    assert _counted(events) == expected


@pytest.mark.parametrize(
    ("refusals", "expected"),
    [
        ([1] * 4 + [0] * 15, None),  # 19 attempts: too few to judge
        ([1] * 4 + [0] * 16, (4, 20)),  # 1 in 5
        ([1] * 3 + [0] * 17, None),
        ([1] * 10 + [0] * 50, None),  # the old refusals left the window
        ([0] * 40 + [2] * 5 + [0] * 5, (10, 50)),  # one answer can show several
    ],
)
def test_a_401_storm_is_one_in_five_of_the_window(
    refusals: list[int], expected: tuple[int, int] | None
) -> None:
    health = Health()
    verdicts = [health.record(failed=False, refused_tokens=n) for n in refusals]
    assert health.refusing_tokens() == expected
    assert verdicts[-1] is (expected is not None)
