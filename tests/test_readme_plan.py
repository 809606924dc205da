"""docs/plan-apply-undo.md ("Before you send"): its commands, its Python snippet, its figures."""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.flows.apply import apply_plan
from pipeline.flows.plan import plan_files
from pipeline.flows.run import run_files
from pipeline.flows.undo import undo_run
from pipeline.sandbox import SandboxThread
from tests.conftest import (
    SAMPLE_DATA,
    env_for,
    options_for,
    state_of,
)
from tests.readme import blocks, section, text_of

PAGE = "docs/plan-apply-undo.md"


def test_the_worked_example_runs_as_printed(in_copy: Path, sandbox: SandboxThread) -> None:
    [commands] = blocks(text_of(PAGE), "sh")
    before = {i: state_of(sandbox).order(i, touch=False) for i in state_of(sandbox).store.ids()}
    snapshot = {i: dict(o or {}) for i, o in before.items()}
    codes = []
    for line in commands.strip().splitlines():
        words = shlex.split(line)
        assert words[0] == ".venv/bin/quivo-bulk"
        result = CliRunner().invoke(main, [*words[1:], "--rate", "500"])
        codes.append(result.exit_code)
        assert result.exception is None or isinstance(result.exception, SystemExit), line
        if words[1] == "plan":
            assert "6 orders will change" in result.output
            assert "zip: 5" in result.output
            assert "values kept as they are" in result.output
            assert "status_conflict: 1 row (row 6)" in result.output
    assert codes == [1, 0, 0, 0]
    assert (in_copy / "runs" / "plan-fixes" / "plan.xlsx").exists()
    assert (in_copy / "runs" / "fixes-applied" / "undo" / "undo.csv").exists()
    for order_id, order in snapshot.items():
        now = state_of(sandbox).order(order_id, touch=False)
        assert now is not None
        assert now["deliveryAddress"] == order["deliveryAddress"], order_id


def test_the_python_snippet_runs_as_printed(in_copy: Path) -> None:
    [snippet] = blocks(text_of(PAGE), "python")
    namespace: dict[str, object] = {}
    exec(compile(snippet, PAGE, "exec"), namespace)
    undone = namespace["undone"]
    assert undone.run is not None  # type: ignore[attr-defined]
    assert undone.run.exit_code == 0  # type: ignore[attr-defined]


def cost_rows() -> dict[str, list[str]]:
    table = section("## What each mode costs", page=PAGE)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:5]] for row in rows}


def test_the_request_costs_in_the_docs_are_measured(sandbox: SandboxThread, tmp_path: Path) -> None:
    """Each mode on sample_data/address-corrections.csv, against fresh orders where it matters."""
    table = cost_rows()
    source = [SAMPLE_DATA / "address-corrections.csv"]
    env = env_for(sandbox)

    def check(mode: str, summary: dict[str, object]) -> None:
        requests, per_row, _ = table[mode]
        kinds = summary["requests_by_kind"]
        assert isinstance(kinds, dict)
        assert str(sum(kinds.values())) == requests, mode
        assert f"{summary['requests_per_row']:.2f}" == per_row, mode

    planned = plan_files(
        source, options=options_for(sandbox, action="address"), env=env, out=tmp_path / "plan"
    )
    check("`plan`", planned.summary.to_json())
    applied = apply_plan(planned.plan_dir, env=env, out=tmp_path / "apply")
    check("`apply` (of that plan: 6 rows)", applied.summary.to_json())
    assert applied.summary.requests_by_kind["search"] == 1
    undo_run(applied.run_dir, env=env, apply=True)  # the orders as they were
    options = options_for(sandbox, action="address")
    profile = replace(options.api.profile, stale_check="read")
    options = replace(options, api=replace(options.api, profile=profile))
    planned = plan_files(source, options=options, env=env, out=tmp_path / "plan-read")
    applied = apply_plan(planned.plan_dir, env=env, out=tmp_path / "apply-read")
    check('`apply` of a plan made with `stale_check = "read"`', applied.summary.to_json())
    again = run_files(
        source, options=options_for(sandbox, action="address"), env=env, out=tmp_path / "again"
    )
    check("`run` of a file already applied", again.summary.to_json())


@pytest.mark.parametrize(
    ("mode", "snapshot"),
    [("`run` (before-images, the default)", "changes"), ("`run --snapshot never`", "never")],
)
def test_the_run_costs_in_the_docs_are_measured(
    sandbox: SandboxThread, tmp_path: Path, mode: str, snapshot: str
) -> None:
    requests, per_row, _ = cost_rows()[mode]
    result = run_files(
        [SAMPLE_DATA / "address-corrections.csv"],
        options=options_for(sandbox, action="address", snapshot=snapshot),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert str(sum(result.summary.requests_by_kind.values())) == requests
    assert f"{result.summary.requests_per_row:.2f}" == per_row
