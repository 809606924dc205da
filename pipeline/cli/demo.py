"""`quivo-bulk demo`: an in-process sandbox and the sample jobs run against it.

The address job is planned first (old -> new per order), sent, then undone.

for result in run_demo(out_root=Path("runs/demo"), echo=print): ...
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
from pydantic import SecretStr

from pipeline.config.jobfile import load_job
from pipeline.config.options import Options
from pipeline.config.settings import Environment, RunOptions, resolve_options
from pipeline.core.errors import OptionsError
from pipeline.flows.plan import plan_files
from pipeline.flows.run import RunResult, run_files
from pipeline.flows.undo import undo_run
from pipeline.plan.predict import summary_lines
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app, load_orders

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_data"
JOBS = REPO / "jobs"


def demo_environment(base_url: str) -> Environment:
    """The sandbox's own credentials: the demo never uses (or shows) real ones."""
    return Environment(
        base_url=base_url,
        api_key=SecretStr("sandbox-key"),
        username="sandbox",
        password=SecretStr("sandbox"),
        token=None,
    )


# What a demo writes in its folder: `1-plan`, `2-mixed-changes`, `<time>-undo-1-...`.
DEMO_ENTRY = re.compile(r"\d-|\d{8}T\d{6}Z-undo-\d-")


def clear_demo_folder(out_root: Path) -> None:
    """Remove a previous demo's folder; refuse (exit 2) to remove anything else, such as
    `--out runs` (every run there) or `--out .`."""
    if not out_root.exists():
        return
    found = [p.name for p in out_root.iterdir()] if out_root.is_dir() else [out_root.name]
    if strangers := sorted(name for name in found if not DEMO_ENTRY.match(name)):
        raise OptionsError(
            f"{out_root} holds more than a demo's runs ({', '.join(strangers[:3])}"
            f"{', ...' if len(strangers) > 3 else ''}) and the demo replaces its --out"
            " folder; choose a new one, e.g. --out runs/demo"
        )
    shutil.rmtree(out_root)


def run_demo(*, out_root: Path, echo: Callable[[str], None]) -> Iterator[RunResult]:
    """Run the three sample inputs against a fresh sandbox; yield each run's result."""
    clear_demo_folder(out_root)
    orders = load_orders(SAMPLES / "sandbox_orders.jsonl")
    app = create_app(SandboxConfig(cancel_delay_s=1.0), orders=orders)
    with SandboxThread(app) as sandbox:
        echo(f"Sandbox listening on {sandbox.base_url}")
        env = demo_environment(sandbox.base_url)
        fast = Options(base_url=sandbox.base_url, rate=50.0, concurrency=8)
        job = load_job(JOBS / "address-corrections.toml")
        runs: list[tuple[str, list[Path], RunOptions]] = [
            (
                "address corrections from a semicolon CSV (job file)",
                job.input_paths(),
                resolve_options(fast, job=job, env=env),
            ),
            (
                "mixed updates and cancellations from Excel",
                [SAMPLES / "mixed-changes.xlsx"],
                resolve_options(fast, env=env),
            ),
            (
                "a Parquet cancellation list",
                [SAMPLES / "cancellations.parquet"],
                resolve_options(Options(**fast.given(), action="cancel"), env=env),
            ),
            (
                "a shop's workbook: title rows, German headers, shop order numbers, numeric zips",
                [SAMPLES / "shop-orders.xlsx"],
                resolve_options(Options(**fast.given(), action="address"), env=env),
            ),
        ]
        for number, (title, inputs, options) in enumerate(runs, start=1):
            echo(f"\n[{number}/{len(runs)}] {title}: {', '.join(p.name for p in inputs)}")
            out = out_root / f"{number}-{inputs[0].stem}"
            if number == 1:
                show_plan(inputs, options=options, env=env, out=out_root / "1-plan", echo=echo)
                echo("\nThe plan looks right: sending it.")
            result = run_files(inputs, options=options, env=env, out=out)
            yield result
            if inputs[0].name == "shop-orders.xlsx":
                show_rows_to_fix(result, echo=echo)
            if number == 1:
                echo(f"\n[{number}/{len(runs)}] ... and taken back: quivo-bulk undo {out} --apply")
                undone = undo_run(out, env=env, apply=True, overrides=fast)
                echo(f"undo: {undone.rows} rows in {undone.undo_csv}")
                echo(f"not undoable: {undone.not_undoable} rows in {undone.not_undoable_csv}")
                if undone.run is not None:
                    yield undone.run


def show_rows_to_fix(result: RunResult, *, echo: Callable[[str], None]) -> None:
    """Each row that did not land, with its error: the hints a person acts on."""
    left = result.results.filter(~pl.col("outcome").is_in(["applied", "duplicate", "unchanged"]))
    echo(f"Rows to fix (they are in {result.run_dir or '.'}/errors.xlsx):")
    for row, order_id, error in left.select("row", "orderId", "error").iter_rows():
        echo(f"  row {row}{f', order {order_id}' if order_id else ''}: {error}")


def show_plan(
    inputs: list[Path],
    *,
    options: RunOptions,
    env: Environment,
    out: Path,
    echo: Callable[[str], None],
) -> None:
    """Plan the inputs and print the summary and each change as old -> new."""
    planned = plan_files(inputs, options=options, env=env, out=out)
    echo(f"First the plan (quivo-bulk plan ... --out {out}); nothing is sent:")
    for line in summary_lines(planned.summary):
        echo(line)
    changing = planned.plan.filter(pl.col("prediction") == "will_change")
    for row, order_id, changes in changing.select("row", "orderId", "changes").iter_rows():
        shown = changes if len(changes) <= 160 else changes[:157] + "..."
        echo(f"  row {row}, order {order_id}: {shown}")
