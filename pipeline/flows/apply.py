"""`apply`: send exactly what a plan showed, order by order if unchanged since
(docs/plan-apply-undo.md).

Only the plan's `will_change` rows are sent (from the plan directory's
`inputs/`, never the original files, which are refused if they changed). Each
order is checked again first (its `lastModified` and status in a batched search;
read in full only when its `lastModified` moved): when its status or any field
the plan changes differs from the plan's before-image, someone else changed it
since, and its rows become `stale` (`changed_since_plan`), nothing sent. An
apply is an ordinary run directory: results, errors, before-images, resume,
rerun, undo.

    result = apply_plan(Path("runs/plan-fixes"), env=Environment())
    result.exit_code
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.config.options import Options
from pipeline.config.settings import Environment, RunOptions, resolve_options
from pipeline.core.errors import OptionsError, RunDirError
from pipeline.core.manifest import Manifest, Origin
from pipeline.flows.plan import read_plan
from pipeline.flows.run import Confirm, ProgressFactory, RunResult, default_run_dir, run_files
from pipeline.inputs.read import sha256_of
from pipeline.send.progress import Progress

DEFAULT_MAX_AGE = timedelta(hours=24)


def check_age(created_at: str, *, max_age: timedelta, now: datetime | None = None) -> None:
    """Refuse a plan older than `max_age`: the orders may have moved on since (pure)."""
    made = datetime.fromisoformat(created_at)
    age = (now or datetime.now(UTC)) - made
    if age > max_age:
        hours = age.total_seconds() / 3600
        raise OptionsError(
            f"the plan is {hours:.1f} hours old, older than --max-age"
            f" {max_age.total_seconds() / 3600:g}h allows; make a new plan"
            " (quivo-bulk plan) or pass a larger --max-age"
        )


def _check_inputs(plan_dir: Path, manifest: Manifest) -> None:
    for entry in manifest.inputs:
        path = Path(entry.path)
        if path.exists() and sha256_of(path) != entry.sha256:
            raise RunDirError(
                f"{plan_dir}: its input {entry.name} changed since the plan (sha256 differs);"
                " make a new plan of the changed file"
            )


def apply_plan(
    plan_dir: Path,
    *,
    env: Environment,
    overrides: Options | None = None,
    out: Path | None = None,
    max_age: timedelta = DEFAULT_MAX_AGE,
    confirm: Confirm | None = None,
    confirm_again: Callable[[str], bool] | None = None,
    progress_factory: ProgressFactory = Progress,
) -> RunResult:
    """Send a plan's `will_change` rows with its per-order freshness check.

    `overrides` replace the plan's options as for `resume` (rate, concurrency, yes,
    max_changes, ...). The run directory defaults to `apply-<plan>` beside the plan.
    """
    manifest = read_plan(plan_dir)
    check_age(manifest.created_at.isoformat(), max_age=max_age)
    _check_inputs(plan_dir, manifest)
    if not manifest.apply_inputs:
        raise RunDirError(f"{plan_dir}: the plan has no row that will change; nothing to apply")
    base = RunOptions.from_manifest(manifest.options)
    options = resolve_options(overrides, base=base)
    inputs = [plan_dir / entry.path for entry in manifest.apply_inputs]
    for path in inputs:
        if not path.exists():
            raise RunDirError(f"{plan_dir}: {path.name} is missing; make a new plan")
    return run_files(
        inputs,
        options=options,
        env=env,
        out=out or default_run_dir(f"apply-{plan_dir.name}", root=plan_dir.parent),
        confirm=confirm,
        confirm_again=confirm_again,
        progress_factory=progress_factory,
        origin=Origin(applies=str(plan_dir)),
        preconditions=manifest.preconditions,
    )


def parse_age(text: str) -> timedelta:
    """`90m`, `24h`, `2d` or a number of hours -> timedelta; OptionsError otherwise."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    unit = value[-1] if value and value[-1] in units else "h"
    number = value[:-1] if value and value[-1] in units else value
    try:
        amount = float(number)
    except ValueError:
        raise OptionsError(
            f"--max-age {text!r} is not a duration; write e.g. 36h, 90m or 2d"
        ) from None
    if amount < 0:
        raise OptionsError(f"--max-age {text!r} is negative; write e.g. 36h")
    return timedelta(seconds=amount * units[unit])
