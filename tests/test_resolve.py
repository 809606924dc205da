"""Shop order numbers and references as keys: batched lookups, then sending (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config.options import Options
from pipeline.core.outcomes import ErrorCode
from pipeline.flows.run import run_files
from pipeline.inputs.ids import KEY_SEPARATOR
from pipeline.plan.resolve import batches, judge_matches, or_query
from pipeline.sandbox import SandboxThread, create_app
from pipeline.sandbox.search import QueryError, parse_query
from tests.conftest import SAMPLE_DATA, env_for, options_for, state_of
from tests.test_cli import cli_env


def test_or_query_quotes_and_escapes() -> None:
    assert or_query("orderIdentifier", ["#1001", 'a"b\\c']) == (
        'orderIdentifier:"#1001" OR orderIdentifier:"a\\"b\\\\c"'
    )


def test_batches_group_by_field_and_cap_the_size() -> None:
    keys = [f"orderIdentifier{KEY_SEPARATOR}#{n}" for n in range(120)]
    keys += [f"orderReference{KEY_SEPARATOR}PO-1", f"orderIdentifier{KEY_SEPARATOR}#0"]
    sizes = [(field, len(values)) for field, values in batches(keys, size=50)]
    assert sizes == [("orderIdentifier", 50), ("orderIdentifier", 50),
                     ("orderIdentifier", 20), ("orderReference", 1)]  # fmt: skip


def test_judge_matches_names_missing_and_ambiguous() -> None:
    found = {"#1": [7], "#2": [9, 8]}
    judged = judge_matches("orderIdentifier", ["#1", "#2", "#3"], found)
    key = f"orderIdentifier{KEY_SEPARATOR}"
    assert judged[key + "#1"] == 7
    assert judged[key + "#2"] == (
        ErrorCode.AMBIGUOUS_ORDER,
        "orderIdentifier '#2' matches 2 orders (8, 9); name the one meant in an orderId column",
    )
    assert judged[key + "#3"] == (ErrorCode.ORDER_NOT_FOUND, "no order has orderIdentifier '#3'")


ORDERS = [
    {"orderId": 1, "orderIdentifier": "#1001", "orderReference": "A", "orderStatus": "PENDING"},
    {"orderId": 2, "orderIdentifier": "#1002", "orderReference": "A", "orderStatus": "PROCESSING"},
    {"orderId": 3, "orderIdentifier": 'x"y', "orderReference": "B", "orderStatus": "PROCESSING"},
]


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("", [1, 2, 3]),
        ('orderIdentifier:"#1001"', [1]),
        ('orderIdentifier:"#1001" OR orderIdentifier:"#1002"', [1, 2]),
        ("orderReference:A AND orderStatus:PROCESSING", [2]),
        ("orderStatus:PROCESSING AND (orderReference:A OR orderReference:B)", [2, 3]),
        ("orderReference:A OR orderReference:B AND orderStatus:PENDING", [1, 2]),
        ('orderIdentifier:"x\\"y"', [3]),
        ("NOT orderStatus:PENDING", [2, 3]),
        ("orderId:2", [2]),
    ],
)
def test_the_sandbox_query_subset(query: str, ids: list[int]) -> None:
    matches = parse_query(query)
    assert [o["orderId"] for o in ORDERS if matches(o)] == ids


@pytest.mark.parametrize("query", ["(orderId:1", "orderId:1)", "colour:red", "hello", "AND"])
def test_broken_queries_are_refused(query: str) -> None:
    with pytest.raises(QueryError):
        parse_query(query)


@pytest.fixture
def keyed_sandbox(fresh_orders: list[dict[str, Any]]) -> Any:
    """The sample orders, two of which share the reference PO-SHARED."""
    for order in fresh_orders[10:12]:
        order["orderReference"] = "PO-SHARED"
    with SandboxThread(create_app(options_sandbox_config(), orders=fresh_orders)) as thread:
        yield thread


def options_sandbox_config() -> Any:
    from pipeline.sandbox import SandboxConfig

    return SandboxConfig(cancel_delay_s=60)


def processing(sandbox: SandboxThread, count: int) -> list[dict[str, Any]]:
    state = state_of(sandbox)
    found = []
    for order_id in state.store.ids():
        order = state.order(order_id, touch=False)
        if (
            order
            and order["orderStatus"] == "PROCESSING"
            and order["orderReference"] != "PO-SHARED"
        ):
            found.append(order)
    return found[:count]


def test_rows_keyed_by_shop_order_number_are_resolved_then_sent(
    keyed_sandbox: SandboxThread, tmp_path: Path
) -> None:
    orders = processing(keyed_sandbox, 3)
    path = tmp_path / "shop.csv"
    lines = ["Order Number,Reference,Kommentar"]
    lines += [f"{o['orderIdentifier']},,note {i}" for i, o in enumerate(orders[:2])]
    lines += [f",{orders[2]['orderReference']},note 2", "#999999,,nobody", ",PO-SHARED,two"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["run", str(path), "--action", "update", "--out", str(tmp_path / "run"), "--quiet"],
        env=cli_env(keyed_sandbox),
    )
    assert result.exit_code == 1, result.output
    assert "'Order Number' read as orderIdentifier" in result.output
    results = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert results["requests_by_kind"]["lookup"] == 2  # one per key field, not one per row
    frame = pl.read_parquet(tmp_path / "run" / "results.parquet")
    assert frame["orderId"].to_list()[:3] == [o["orderId"] for o in orders]
    assert frame["outcome"].to_list() == ["applied", "applied", "applied", "invalid", "invalid"]
    assert frame["errorCode"].to_list()[3:] == ["order_not_found", "ambiguous_order"]
    assert "no order has orderIdentifier '#999999'" in frame["error"][3]
    assert "matches 2 orders" in frame["error"][4]
    for order, row in zip(orders, range(3), strict=True):
        stored = state_of(keyed_sandbox).order(order["orderId"], touch=False)
        assert stored is not None
        assert stored["comment"] == f"note {row}"


def test_resolving_many_identifiers_costs_one_lookup_per_fifty(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    path = tmp_path / "cancel.csv"
    numbers = [f"#{1001 + n}" for n in range(120)]
    path.write_text("Bestellnummer\n" + "\n".join(numbers) + "\n", encoding="utf-8")
    result = run_files(
        [path],
        options=options_for(sandbox, action="cancel", dry_run=True),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert result.summary.requests_by_kind["lookup"] == 3  # 50 + 50 + 20
    assert result.results["orderId"].to_list() == [4100001 + n for n in range(120)]
    stats = state_of(sandbox).stats
    assert stats.by_endpoint["list"] == 3
    assert stats.requests == stats.logins + 3  # nothing else: a dry run sends no change


def test_plan_resolves_shop_order_numbers_before_reading_the_orders(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    from pipeline.flows.plan import plan_files

    orders = processing(sandbox, 2)
    path = tmp_path / "plan.csv"
    lines = ["Order Number,comment"] + [f"{o['orderIdentifier']},planned" for o in orders]
    path.write_text("\n".join([*lines, "#424242,planned"]) + "\n", encoding="utf-8")
    planned = plan_files(
        [path],
        options=options_for(sandbox, action="update"),
        env=env_for(sandbox),
        out=tmp_path / "plan",
    )
    plan = planned.plan
    assert plan["orderId"].to_list() == [o["orderId"] for o in orders] + [None]
    assert plan["prediction"].to_list() == ["will_change", "will_change", "invalid"]
    assert "no order has orderIdentifier '#424242'" in plan["reason"][2]
    assert planned.summary.requests_by_kind["lookup"] == 1


def test_the_plan_names_hidden_rows(sandbox: SandboxThread, tmp_path: Path) -> None:
    from pipeline.flows.plan import plan_files
    from pipeline.plan.predict import summary_lines

    planned = plan_files(
        [SAMPLE_DATA / "shop-orders.xlsx"],
        options=options_for(sandbox, action="address"),
        env=env_for(sandbox),
        out=tmp_path / "plan",
    )
    lines = summary_lines(planned.summary)
    assert any("hidden (filtered out)" in line and ": 9;" in line for line in lines)
    assert planned.plan.filter(pl.col("row") == 9)["prediction"][0] == "will_change"


def test_the_resolution_is_kept_for_rebuild_and_resume(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    from pipeline.flows.resume import rebuild_reports, resume_run

    orders = processing(sandbox, 2)
    path = tmp_path / "keys.csv"
    lines = ["Order Number,comment"] + [f"{o['orderIdentifier']},kept" for o in orders]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_files(
        [path],
        options=options_for(sandbox, action="update"),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    lookups = state_of(sandbox).stats.by_endpoint["list"]
    rebuilt = rebuild_reports(tmp_path / "run")
    assert rebuilt.results["orderId"].to_list() == run.results["orderId"].to_list()
    resumed = resume_run(tmp_path / "run", overrides=Options(), env=env_for(sandbox))
    assert resumed.results["orderId"].to_list() == [o["orderId"] for o in orders]
    assert state_of(sandbox).stats.by_endpoint["list"] == lookups  # not looked up again


def test_a_keyed_run_logs_in_once_for_its_lookups_and_its_sends(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    """The lookups' client and the sending client share one token: one login per run."""
    orders = processing(sandbox, 3)
    path = tmp_path / "shop.csv"
    lines = ["Order Number,comment"] + [f"{o['orderIdentifier']},once" for o in orders]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["run", str(path), "--action", "update", "--out", str(tmp_path / "run"), "--quiet"],
        env=cli_env(sandbox),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["outcomes"] == {"applied": 3}
    assert summary["requests_by_kind"]["lookup"] == 1
    assert summary["requests_by_kind"]["login"] == 1
    assert state_of(sandbox).stats.logins == 1  # as the server counts them


def test_the_wall_time_covers_the_lookups(sandbox: SandboxThread, in_copy: Path) -> None:
    """A dry run of 300 shop order numbers is 1 login and 6 lookups, paced at 20/s: at
    least 0.3 s. The wall time counted only the run's session, which starts after the
    lookups (0.002 s), so the summary showed ~1,000 requests/s at --rate 5."""
    numbers = "".join(f"#{1001 + n},x\n" for n in range(300))
    Path("numbers.csv").write_text("Order Number,comment\n" + numbers)
    result = CliRunner().invoke(main, ["run", "numbers.csv", "--action", "update", "--dry-run",
                                       "--rate", "20", "--quiet", "--out", "runs/dry"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(Path("runs/dry/summary.json").read_text())
    assert summary["requests_by_kind"]["lookup"] == 6
    assert summary["requests"] == state_of(sandbox).stats.requests == 7
    assert summary["wall_time_s"] >= 0.9 * (7 - 1) / 20
    assert summary["achieved_requests_per_s"] <= 1.1 * 20 * 7 / 6  # N requests, N - 1 gaps
