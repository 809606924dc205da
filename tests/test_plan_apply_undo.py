"""plan -> apply -> undo against the sandbox (docs/plan-apply-undo.md): the user's scenarios end to
end."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import polars as pl
import pytest
from click.testing import CliRunner

from pipeline import apply_plan, plan_files, plan_frame, undo_run
from pipeline.cli import main
from pipeline.config.options import Options
from pipeline.core.errors import LimitExceeded, OptionsError, RunDirError
from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxThread
from tests.conftest import (
    API_KEY,
    PASSWORD,
    SAMPLE_DATA,
    USERNAME,
    env_for,
    options_for,
    order_ids,
    state_of,
)

ADDRESS_CSV = SAMPLE_DATA / "address-corrections.csv"
MUTATIONS = ("patch", "address", "cancel")


def mutations(sandbox: SandboxThread, order_id: int) -> int:
    counts = state_of(sandbox).stats.by_order.get(order_id, {})
    return sum(counts.get(kind, 0) for kind in MUTATIONS)


def all_mutations(sandbox: SandboxThread) -> int:
    return sum(mutations(sandbox, order_id) for order_id in state_of(sandbox).stats.by_order)


def snapshot_orders(sandbox: SandboxThread) -> dict[int, dict[str, Any]]:
    state = state_of(sandbox)
    copied: dict[int, dict[str, Any]] = {}
    for order_id in state.store.ids():
        order = state.order(order_id, touch=False)
        if order is not None:
            copied[order_id] = json.loads(json.dumps(order))
    return copied


def other_client_patch(sandbox: SandboxThread, order_id: int, body: dict[str, Any]) -> None:
    """Another client changes an order through the API (a plain aiohttp session)."""

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                sandbox.base_url + "/login",
                json={"username": USERNAME, "password": PASSWORD},
                headers={"X-Api-Key": API_KEY},
            ) as answer:
                token = (await answer.json())["token"]
            async with session.patch(
                f"{sandbox.base_url}/orders/{order_id}",
                json=body,
                headers={"X-Api-Key": API_KEY, "Authorization": token},
            ) as answer:
                assert answer.status in (200, 204), await answer.text()

    asyncio.run(go())


def test_plan_sends_nothing_and_shows_old_and_new(sandbox: SandboxThread, tmp_path: Path) -> None:
    before = snapshot_orders(sandbox)
    result = plan_files(
        [ADDRESS_CSV],
        options=options_for(sandbox, action="address"),
        env=env_for(sandbox),
        out=tmp_path / "plan",
    )
    assert all_mutations(sandbox) == 0
    assert snapshot_orders(sandbox) == before
    plan = result.plan
    assert plan.columns[:8] == [
        "file", "row", "orderId", "action", "prediction", "reason", "changes", "orderStatus",
    ]  # fmt: skip
    assert plan.height == 16  # every input row, once
    by_row = {row["row"]: row for row in plan.iter_rows(named=True)}
    assert by_row[2]["prediction"] == "will_change"
    assert "zip: M5V 2T6 -> 02134" in by_row[2]["changes"]
    assert by_row[6]["prediction"] == "will_fail"
    assert by_row[6]["orderStatus"] == "COMPLETED"
    assert by_row[8]["prediction"] == "will_fail"  # order 9999999 does not exist
    assert by_row[4]["prediction"] == "will_fail"  # the order's state is not one of US
    assert "state" in by_row[4]["reason"]
    assert by_row[5]["prediction"] == "invalid"
    assert by_row[3]["prediction"] == "will_change"
    assert result.exit_code == 1
    summary = result.summary
    assert summary.predictions["will_change"] == 6
    assert summary.orders_changing == 6
    assert summary.field_changes["zip"] == 5  # row 17 gives coordinates only
    # Only the cells the rows fill change: e-mails and phones of the other rows are kept.
    assert summary.field_changes["email"] == 1
    assert summary.field_changes["phone"] == 2
    assert summary.failures["status_conflict"].examples == ["row 6"]
    assert summary.requests_by_kind["mutation"] == 0
    for name in ("plan.xlsx", "plan.csv", "plan.parquet", "summary.json", "before.parquet"):
        assert (result.plan_dir / name).exists(), name
    assert pl.read_excel(result.plan_dir / "plan.xlsx")["prediction"].to_list() == (
        plan["prediction"].to_list()
    )
    assert (result.plan_dir.stat().st_mode & 0o777) == 0o700


def test_apply_marks_orders_changed_since_the_plan_stale(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = env_for(sandbox)
    planned = plan_files(
        [ADDRESS_CSV], options=options_for(sandbox, action="address"), env=env, out=tmp_path / "p"
    )
    changing = planned.plan.filter(pl.col("prediction") == "will_change")["orderId"].to_list()
    moved = changing[:2]
    for order_id in moved:
        other_client_patch(sandbox, order_id, {"address": {"city": "Somewhere Else"}})
    result = apply_plan(planned.plan_dir, env=env, out=tmp_path / "apply")
    rows = {r["orderId"]: r for r in result.results.iter_rows(named=True)}
    for order_id in moved:
        assert rows[order_id]["outcome"] == "stale"
        assert rows[order_id]["errorCode"] == "changed_since_plan"
        assert "Somewhere Else" in rows[order_id]["error"]
        assert mutations(sandbox, order_id) == 1  # only the other client's change
        order = state_of(sandbox).order(order_id, touch=False)
        assert order is not None
        assert order["deliveryAddress"]["city"] == "Somewhere Else"
    for order_id in changing[2:]:
        assert rows[order_id]["outcome"] == "applied"
    assert result.results.height == len(changing)  # exactly the plan's will_change rows
    assert result.exit_code == 1


def test_apply_refuses_an_old_plan_and_a_changed_input(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    from datetime import timedelta

    source = tmp_path / "fixes.csv"
    source.write_bytes(ADDRESS_CSV.read_bytes())
    env = env_for(sandbox)
    planned = plan_files(
        [source], options=options_for(sandbox, action="address"), env=env, out=tmp_path / "p"
    )
    with pytest.raises(OptionsError, match="older than --max-age"):
        apply_plan(planned.plan_dir, env=env, max_age=timedelta(seconds=-1))
    source.write_text(source.read_text() + "\n")
    with pytest.raises(RunDirError, match="changed since the plan"):
        apply_plan(planned.plan_dir, env=env)
    assert all_mutations(sandbox) == 0


def test_plan_frame_takes_a_dataframe(sandbox: SandboxThread, tmp_path: Path) -> None:
    ids = order_ids(sandbox, "PROCESSING", 3)
    order = state_of(sandbox).order(ids[0], touch=False)
    assert order is not None
    frame = pl.DataFrame(
        {"orderId": [str(i) for i in ids], "comment": [order["comment"], "new one", "new two"]}
    )
    result = plan_frame(
        frame,
        options=options_for(sandbox, action="update"),
        env=env_for(sandbox),
        out=tmp_path / "p",
    )
    assert result.plan["prediction"].to_list() == ["unchanged", "will_change", "will_change"]
    assert result.exit_code == 0


def test_undo_round_trip_restores_every_field(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = env_for(sandbox)
    before = snapshot_orders(sandbox)
    run = run_files(
        [ADDRESS_CSV],
        options=options_for(sandbox, action="address"),
        env=env,
        out=tmp_path / "runs" / "fixes",
    )
    applied = run.results.filter(pl.col("outcome") == "applied")["orderId"].to_list()
    assert len(applied) == 6
    assert any(snapshot_orders(sandbox)[i] != before[i] for i in applied)
    undone = undo_run(run.run_dir, env=env, apply=True, overrides=Options(rate=500.0))
    assert undone.undo_csv == run.run_dir / "undo" / "undo.csv"
    assert undone.not_undoable == 0
    assert undone.run is not None
    assert undone.run.exit_code == 0
    after = snapshot_orders(sandbox)
    for order_id in applied:
        for field, value in before[order_id].items():
            if field != "lastModified":  # the API's own timestamp of the last change
                assert after[order_id][field] == value, (order_id, field)
    # The undo run has before-images too: it can be undone in turn.
    again = undo_run(undone.run.run_dir, env=env)
    assert again.rows == len(applied)


def test_undo_lists_what_cannot_be_undone_and_refuses_without_images(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = env_for(sandbox)
    ids = order_ids(sandbox, "PROCESSING", 3)
    path = tmp_path / "mixed.csv"
    path.write_text(
        "orderId,action,customAttributes.brandNew,comment\n"
        f"{ids[0]},update,hello,\n{ids[1]},cancel,,\n{ids[2]},update,,undo me\n"
    )
    run = run_files([path], options=options_for(sandbox), env=env, out=tmp_path / "r" / "one")
    assert run.results["outcome"].to_list() == ["applied", "applied", "applied"]
    undone = undo_run(run.run_dir, env=env)
    refused = pl.read_csv(undone.not_undoable_csv, infer_schema=False)
    assert refused.select("orderId", "field").rows() == [
        (str(ids[0]), "customAttributes.brandNew"),
        (str(ids[1]), "cancelRequest"),
    ]
    undo_rows = pl.read_csv(undone.undo_csv, infer_schema=False)
    assert undo_rows.select("orderId", "action").rows() == [(str(ids[2]), "update")]
    blind = run_files(
        [_comment_file(tmp_path, ids[2], "blind")],
        options=options_for(sandbox, action="update", snapshot="never"),
        env=env,
        out=tmp_path / "r" / "blind",
    )
    with pytest.raises(RunDirError, match="--snapshot"):
        undo_run(blind.run_dir, env=env)


def _comment_file(folder: Path, order_id: int, text: str) -> Path:
    path = folder / f"{text}.csv"
    path.write_text(f"orderId,comment\n{order_id},{text}\n")
    return path


def test_the_demo_shows_a_plan_before_the_address_job_and_undoes_it(tmp_path: Path) -> None:
    from pipeline.cli.demo import run_demo

    lines: list[str] = []
    results = list(run_demo(out_root=tmp_path / "demo", echo=lines.append))
    text = "\n".join(lines)
    plan_at = text.index("First the plan")
    assert plan_at < text.index("The plan looks right: sending it.")
    assert "6 orders will change" in text
    assert "row 2, order 4100001: name: Marie Gruber -> Anna Gruber" in text
    # The plan says that the e-mails and phones the file does not carry are kept...
    [kept] = [line for line in lines if "values kept as they are" in line]
    assert re.search(r"\bemail \d+", kept), kept
    assert re.search(r"\bphone \d+", kept), kept
    # ... and no order's e-mail or phone is emptied.
    sending = next(i for i, line in enumerate(lines) if "The plan looks right" in line)
    planned = [line for line in lines[:sending] if ", order 41" in line]
    assert len(planned) == 6
    assert not any(re.search(r"(email|phone): [^;]+ -> \(empty\)", line) for line in planned)
    assert "undo: 6 rows in" in text
    address_run, undo_run_result = results[0], results[1]
    assert address_run.summary.outcomes["applied"] == 6
    assert undo_run_result.summary.outcomes == {"applied": 6}
    assert len(results) == 5


def test_undo_apply_leaves_an_order_changed_since_stale(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = env_for(sandbox)
    run = run_files(
        [ADDRESS_CSV],
        options=options_for(sandbox, action="address"),
        env=env,
        out=tmp_path / "runs" / "fixes",
    )
    applied = run.results.filter(pl.col("outcome") == "applied")["orderId"].to_list()
    moved = applied[0]
    other_client_patch(sandbox, moved, {"address": {"city": "Changed Later"}})
    undone = undo_run(run.run_dir, env=env, apply=True, overrides=Options(rate=500.0))
    assert undone.run is not None
    rows = {r["orderId"]: r for r in undone.run.results.iter_rows(named=True)}
    assert rows[moved]["outcome"] == "stale"
    assert rows[moved]["errorCode"] == "changed_since_plan"
    assert "Changed Later" in rows[moved]["error"]
    order = state_of(sandbox).order(moved, touch=False)
    assert order is not None
    assert order["deliveryAddress"]["city"] == "Changed Later"  # not overwritten
    assert mutations(sandbox, moved) == 2  # the run's change and the other client's only
    assert [rows[i]["outcome"] for i in applied[1:]] == ["applied"] * (len(applied) - 1)
    assert undone.run.exit_code == 1


def test_apply_guards_trip_before_anything_is_sent(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = env_for(sandbox)
    planned = plan_files(
        [ADDRESS_CSV], options=options_for(sandbox, action="address"), env=env, out=tmp_path / "p"
    )
    logins = state_of(sandbox).stats.logins
    with pytest.raises(LimitExceeded, match="would change 6 orders"):
        apply_plan(planned.plan_dir, env=env, overrides=Options(max_changes=5))
    assert all_mutations(sandbox) == 0
    assert state_of(sandbox).stats.logins == logins


def test_plan_and_apply_rows_keyed_by_shop_order_number(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    ids = order_ids(sandbox, "PROCESSING", 2)
    numbers = [state_of(sandbox).order(i, touch=False)["orderIdentifier"] for i in ids]  # type: ignore[index]
    path = tmp_path / "shop.csv"
    path.write_text("Order Number,comment\n" + "".join(f"{n},from the shop {n}\n" for n in numbers))
    env = env_for(sandbox)
    planned = plan_files(
        [path], options=options_for(sandbox, action="update"), env=env, out=tmp_path / "p"
    )
    assert planned.plan["orderId"].to_list() == ids
    assert planned.plan["prediction"].to_list() == ["will_change", "will_change"]
    assert planned.summary.requests_by_kind["lookup"] == 1
    applied = apply_plan(planned.plan_dir, env=env, out=tmp_path / "a")
    assert applied.results["outcome"].to_list() == ["applied", "applied"]
    for order_id, number in zip(ids, numbers, strict=True):
        order = state_of(sandbox).order(order_id, touch=False)
        assert order is not None
        assert order["comment"] == f"from the shop {number}"


def test_undo_restores_both_addresses_of_a_delivery_and_invoice_row(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = env_for(sandbox)
    [order_id] = order_ids(sandbox, "PROCESSING", 1)
    before = snapshot_orders(sandbox)[order_id]
    path = tmp_path / "both.csv"
    path.write_text(
        "orderId,name,street,city,zip,countryIso2\n"
        f"{order_id},Ada Lovelace,Ringstraße 1,Wien,1010,AT\n"
    )
    run = run_files(
        [path],
        options=options_for(sandbox, action="address", address_type="DELIVERY_AND_INVOICE"),
        env=env,
        out=tmp_path / "runs" / "both",
    )
    assert run.results["outcome"].to_list() == ["applied"]
    undone = undo_run(run.run_dir, env=env, apply=True, overrides=Options(rate=500.0))
    rows = pl.read_csv(undone.undo_csv, infer_schema=False)
    assert rows.select("action", "addressType").rows() == [
        ("address", "DELIVERY"),
        ("address", "INVOICE"),
    ]
    assert undone.run is not None
    assert undone.run.exit_code == 0
    after = snapshot_orders(sandbox)[order_id]
    assert after["deliveryAddress"] == before["deliveryAddress"]
    assert after["invoiceAddress"] == before["invoiceAddress"]


PATH_IN_OUTPUT = re.compile(r"(?<![\w/.-])((?:runs|sample_data)/[\w./-]*\w)")


def test_plan_prints_notes_as_notes(in_copy: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["plan", "sample_data/address-corrections.csv", "--action", "address", "--quiet",
         "--rate", "100", "--out", "runs/plan-fixes"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    # Without a terminal each line starts with a timestamp; then the note itself.
    lines = [line.split(" ", 1)[1] for line in result.stderr.splitlines()]
    assert "note: sample_data/address-corrections.csv: 'Country' read as countryIso2" in lines
    assert "warning: note:" not in result.stderr


def test_every_path_run_undo_and_report_print_exists(in_copy: Path) -> None:
    """The file a message names is one the user can open: the undo run's input is
    runs/fixes/undo/undo.csv (it was named fixes/undo/undo.csv, which is nowhere)."""
    printed: list[str] = []
    outputs: list[str] = []
    for args in (
        [
            "run",
            "sample_data/address-corrections.csv",
            "--action",
            "address",
            "--out",
            "runs/fixes",
        ],
        ["undo", "runs/fixes", "--apply"],
        ["report", "runs/fixes"],
    ):
        result = CliRunner().invoke(main, [*args, "--rate", "100"] if args[0] != "report" else args)
        assert result.exit_code in (0, 1), result.output
        printed += PATH_IN_OUTPUT.findall(result.output)
        outputs.append(result.output)
    assert "runs/fixes/undo/undo.csv" in printed
    assert "'undoes'" not in "".join(outputs)  # undo.csv's own column: no warning
    assert [path for path in printed if not Path(path).exists()] == []
    [undo_run_dir] = Path("runs").glob("*-undo-fixes")
    files = pl.read_parquet(undo_run_dir / "results.parquet")["file"].unique().to_list()
    assert files == ["runs/fixes/undo/undo.csv"]


def test_plan_refuses_an_out_that_holds_a_run(in_copy: Path) -> None:
    """`plan --out runs/fixes` over a run wrote its plan there: the run's summary.json
    and before.parquet were replaced, and `report runs/fixes` failed with an internal
    error. It is refused (exit 2) and the run is left as it was."""
    runner = CliRunner()
    csv = "sample_data/address-corrections.csv"
    ran = runner.invoke(main, ["run", csv, "--action", "address", "--out", "runs/fixes",
                               "--rate", "100"])  # fmt: skip
    assert ran.exit_code == 1, ran.output
    summary = Path("runs/fixes/summary.json").read_bytes()
    planned = runner.invoke(main, ["plan", csv, "--action", "address", "--out", "runs/fixes"])
    assert planned.exit_code == 2, planned.output
    assert "runs/fixes is not empty; refusing to overwrite what is there" in planned.output
    assert Path("runs/fixes/summary.json").read_bytes() == summary
    assert not Path("runs/fixes/plan.xlsx").exists()
    assert runner.invoke(main, ["report", "runs/fixes"]).exit_code == 1  # the run's code


def test_undo_apply_takes_the_guards_against_a_wrong_file(in_copy: Path) -> None:
    """docs/reference/commands.md: every sending command takes --max-changes. `undo --apply` over
    the limit sends nothing and makes no undo run; within it, the undo runs."""
    runner = CliRunner()
    csv = "sample_data/address-corrections.csv"
    ran = runner.invoke(main, ["run", csv, "--action", "address", "--out", "runs/fixes",
                               "--rate", "100", "--quiet"])  # fmt: skip
    assert ran.exit_code in (0, 1), ran.output
    applied = pl.read_parquet("runs/fixes/results.parquet").filter(pl.col("outcome") == "applied")
    orders = applied["orderId"].n_unique()
    assert orders >= 2
    refused = runner.invoke(
        main, ["undo", "runs/fixes", "--apply", "--max-changes", str(orders - 1), "--rate", "100"]
    )
    assert refused.exit_code == 2, refused.output
    assert f"would change {orders} orders, more than --max-changes {orders - 1}" in refused.output
    assert list(Path("runs").glob("*-undo-fixes")) == []
    undone = runner.invoke(
        main, ["undo", "runs/fixes", "--apply", "--max-changes", str(orders), "--rate", "100"]
    )
    assert undone.exit_code == 0, undone.output
    assert len(list(Path("runs").glob("*-undo-fixes"))) == 1
