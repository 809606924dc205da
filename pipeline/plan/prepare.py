"""Prepare a run: read the inputs, validate every row, plan the per-order work.

Everything decided before anything is sent; `run_files`, `validate_files`,
`plan_files` and the browser UI all start here.

    prepared = prepare([Path("fixes.xlsx")], options=RunOptions(action="address"))
    prepared.plan, prepared.settled  # the work to send, the rows already decided
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from pipeline.config.settings import RunOptions
from pipeline.core.errors import InputFileError
from pipeline.core.outcomes import Outcome
from pipeline.inputs.read import InputTable, ReadOptions, read_inputs
from pipeline.inputs.rows import Resolution, RowDefaults, validate_rows
from pipeline.inputs.unsent import unsent_cells
from pipeline.plan.bulk import bulk_objects
from pipeline.plan.sequence import Plan, plan_changes
from pipeline.store.schema import RowResult


@dataclass(frozen=True)
class Prepared:
    """Inputs read, validated and planned: everything decided before sending."""

    table: InputTable
    plan: Plan
    settled: list[RowResult] = field(default_factory=list)  # invalid and duplicate rows
    # Headers of filled cells the row's action does not send, each with its row indexes.
    unsent: tuple[tuple[str, pl.Series], ...] = ()


def display_name(path: Path) -> str:
    """How a file is named in reports: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def locator(table: InputTable) -> Callable[[int], str]:
    """Describe a row by index: `row 7`, or `row 7 of b.csv` when several files are read."""
    files = table.raw["file"]
    rows = table.raw["row"]
    several = len(table.files) > 1

    def locate(index: int) -> str:
        return f"row {rows[index]} of {files[index]}" if several else f"row {rows[index]}"

    return locate


def prepare(
    inputs: Sequence[Path],
    *,
    options: RunOptions,
    names: Sequence[str] | None = None,
    resolved: dict[str, Resolution] | None = None,
) -> Prepared:
    """Read, validate and plan; raise InputFileError for a file that cannot be used.

    `resolved`: the orderIds of rows keyed by shop order number or reference
    (`resolve_order_keys`); without it such rows are planned by their key.
    """
    with bulk_objects():
        return _prepare(inputs, options=options, names=names, resolved=resolved)


def _prepare(
    inputs: Sequence[Path],
    *,
    options: RunOptions,
    names: Sequence[str] | None,
    resolved: dict[str, Resolution] | None,
) -> Prepared:
    names = names or [display_name(path) for path in inputs]
    read_options = ReadOptions(
        mapping=options.columns,
        sheet=options.sheet,
        header_row=options.header_row,
        skip_hidden_rows=options.skip_hidden_rows,
    )
    table = read_inputs(inputs, names=names, options=read_options)
    # No action column and no --action: a file error (docs/reference/inputs.md).
    if options.action is None:
        for source in table.files:
            if "action" not in source.columns.fields.values():
                raise InputFileError(
                    f"{source.name}: no action column and no --action; add an 'action'"
                    " column or pass --action update|address|cancel (job key `action`)"
                )
    checked = validate_rows(
        table.fields,
        defaults=RowDefaults(action=options.action, address_type=options.address_type),
        resolved=resolved,
    )
    notes, unsent = unsent_cells(
        table.fields, checked, [(f.name, f.columns.fields) for f in table.files]
    )
    if notes:
        table = replace(table, warnings=(*table.warnings, *notes))
    locate = locator(table)
    plan = plan_changes(checked, locate=locate)
    settled = [
        RowResult(
            index=r.index,
            outcome=Outcome.INVALID,
            order_id=r.order_id,
            action=r.action,
            error_code=r.code,
            error=r.message,
        )
        for r in plan.rejections
    ]
    settled += [
        RowResult(
            index=d.index,
            outcome=Outcome.DUPLICATE,
            order_id=d.order_id,
            action=d.action,
            error=f"same change as {locate(d.original)}, which is sent once",
        )
        for d in plan.duplicates
    ]
    return Prepared(table=table, plan=plan, settled=settled, unsent=unsent)
