"""`undo`: the inverse of a run's applied changes, from its before-images (docs/plan-apply-undo.md).

Writes `undo/undo.csv`, an ordinary input file: per order, an `update` row that
sets the fields the run changed back to their before-image values, and per
address the run changed, an `address` row setting each changed field back (the
order's field names mapped back to request fields; `#CLEAR` for one that was
empty). `undo/not-undoable.csv` lists what cannot be set back (cancels; a
comment or custom attribute that was empty or absent before, which an input
cell cannot express). `apply=True` runs undo.csv as a
new run whose preconditions are the values the original run set: an order
changed since by someone else is `stale`, not overwritten. An undo run has
before-images too, so it can be undone.

    result = undo_run(Path("runs/fixes"), env=Environment(), apply=True)
    result.undo_csv, result.run.exit_code
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.api.payloads import RESPONSE_FIELD
from pipeline.config.options import Options
from pipeline.config.settings import Environment, RunOptions, resolve_options
from pipeline.core.errors import RunDirError
from pipeline.core.manifest import Origin
from pipeline.core.outcomes import Outcome
from pipeline.flows.plan import private_dir, private_files
from pipeline.flows.resume import prepare_again
from pipeline.flows.run import Confirm, ProgressFactory, RunResult, default_run_dir, run_files
from pipeline.inputs.address import CLEAR, REQUEST_FIELD
from pipeline.inputs.changes import TYPE_OF_TARGET, Change
from pipeline.plan.diff import current, field_changes
from pipeline.reports.report import write_csv
from pipeline.send.progress import Progress
from pipeline.store.images import load_images
from pipeline.store.journal import JOURNAL_NAME, Journal

UNDO_DIR = "undo"
ADDRESS_COLUMNS = tuple(RESPONSE_FIELD)  # request names: name, company, ..., longitude
NOT_UNDOABLE_COLUMNS = ("file", "row", "orderId", "action", "field", "before", "reason")


@dataclass(frozen=True)
class UndoResult:
    undo_dir: Path
    undo_csv: Path
    not_undoable_csv: Path
    rows: int  # rows in undo.csv
    not_undoable: int  # rows in not-undoable.csv
    run: RunResult | None = None  # the undo run, with apply=True


@dataclass
class _Inverse:
    """Everything that sets one order back."""

    update: dict[str, str]  # column -> value (update row)
    addresses: dict[str, dict[str, str]]  # DELIVERY / INVOICE -> request fields
    expected: dict[str, Any]  # path -> value the original run set (the precondition)
    sources: list[str]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _undo_change(
    change: Change,
    before: Mapping[str, Any],
    after: Mapping[str, Any] | None,
    inverse: _Inverse,
    refuse: Callable[[str, Any, str], None],
) -> None:
    """Add the inverse of one applied row to its order's `inverse`: each field it changed
    set back to its before-image value, `#CLEAR` for an address field that was empty."""
    changed = field_changes(change, before)
    for path, _, new in changed:
        inverse.expected[path] = current(after, path) if after is not None else new
    if change.action == "address":
        for target in change.address_targets():
            address = before.get(target) or {}
            if address.get("address3"):
                refuse(f"{target}.address3", address["address3"], "the API cannot set address3")
    for path, old, _ in changed:
        target, _, field = path.partition(".")
        if target in TYPE_OF_TARGET:
            column = REQUEST_FIELD[field]
            value = _text(old) or CLEAR
            if change.action == "address":
                inverse.addresses.setdefault(TYPE_OF_TARGET[target], {})[column] = value
            else:
                inverse.update[column] = value
        elif old is None or old == "":
            refuse(
                path,
                old,
                "it was empty or absent before; an empty cell leaves a field unchanged, and"
                " the API cannot remove a custom attribute",
            )
        else:
            inverse.update[path] = _text(old)


def build_undo(
    run_dir: Path,
) -> tuple[list[dict[str, str]], list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """(undo rows, not-undoable rows, preconditions per order) of a finished run."""
    journal = Journal.open(run_dir / JOURNAL_NAME)
    try:
        manifest = journal.manifest
        options = RunOptions.from_manifest(manifest.options)
        prepared = prepare_again(run_dir, manifest, options)
        images = load_images(journal)
        after = {order_id: json.loads(body) for order_id, body in journal.orders()}
        results = list(journal.results())
    finally:
        journal.close()
    raw = prepared.table.raw
    applied = [r for r in results if r.outcome is Outcome.APPLIED]
    changed_rows = [r for r in applied if r.action in ("update", "address")]
    if changed_rows and not any(r.order_id in images for r in changed_rows):
        raise RunDirError(
            f"{run_dir}: the run has no before-images (it ran with --snapshot never), so"
            " there is nothing to restore from; runs take them by default (--snapshot changes)"
        )
    inverses: dict[int, _Inverse] = {}
    refused: list[dict[str, Any]] = []
    for result in applied:
        where = {"file": raw["file"][result.index], "row": raw["row"][result.index]}
        base = {**where, "orderId": result.order_id, "action": result.action}

        def refuse(field: str, before: Any, reason: str, base: dict[str, Any] = base) -> None:
            refused.append({**base, "field": field, "before": _text(before), "reason": reason})

        if result.action == "cancel":
            refuse("cancelRequest", None, "the API cannot take a cancellation back")
            continue
        assert result.order_id is not None
        before = images.get(result.order_id)
        if before is None:
            refuse("(all)", None, "no before-image of this order")
            continue
        inverse = inverses.setdefault(result.order_id, _Inverse({}, {}, {}, []))
        inverse.sources.append(f"{where['file']} row {where['row']}")
        change = prepared.plan.checked.change(result.index)
        _undo_change(change, before, after.get(result.order_id), inverse, refuse)
    rows: list[dict[str, str]] = []
    for order_id, inverse in inverses.items():
        source = "; ".join(inverse.sources)
        update = dict(inverse.update)
        delivery = inverse.addresses.get("DELIVERY")
        if delivery is not None:  # one row sets the delivery address back
            for column in ADDRESS_COLUMNS:
                if column in update:
                    delivery.setdefault(column, update.pop(column))
        for address_type, fields in inverse.addresses.items():
            rows.append(
                {"orderId": str(order_id), "action": "address", "addressType": address_type}
                | fields
                | {"undoes": source}
            )
        if update:
            rows.append(
                {"orderId": str(order_id), "action": "update"} | update | {"undoes": source}
            )
    preconditions = {k: v.expected for k, v in inverses.items() if v.expected}
    return rows, refused, preconditions


def undo_run(
    run_dir: Path,
    *,
    env: Environment | None = None,
    out: Path | None = None,
    apply: bool = False,
    overrides: Options | None = None,
    confirm: Confirm | None = None,
    progress_factory: ProgressFactory = Progress,
) -> UndoResult:
    """Write `undo/undo.csv` and `undo/not-undoable.csv` for `run_dir`; with `apply`, run it.

    `out` is the folder for the two files (default RUN_DIR/undo). The undo run goes
    to `undo-<run>` beside the original run.
    """
    rows, refused, preconditions = build_undo(run_dir)
    undo_dir = private_dir(out or run_dir / UNDO_DIR)
    undo_csv = undo_dir / "undo.csv"
    not_undoable_csv = undo_dir / "not-undoable.csv"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    frame = pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String))
    write_csv(frame, undo_csv)
    write_csv(
        pl.DataFrame(refused, schema=dict.fromkeys(NOT_UNDOABLE_COLUMNS, pl.String)).cast(
            {"row": pl.String}
        )
        if refused
        else pl.DataFrame(schema=dict.fromkeys(NOT_UNDOABLE_COLUMNS, pl.String)),
        not_undoable_csv,
    )
    (undo_dir / "preconditions.json").write_text(
        json.dumps({str(k): v for k, v in preconditions.items()}, indent=2) + "\n"
    )
    private_files(undo_dir)
    result = UndoResult(undo_dir, undo_csv, not_undoable_csv, len(rows), len(refused))
    if not apply or not rows:
        return result
    if env is None:
        raise RunDirError("undo --apply needs the environment's credentials (env=)")
    journal = Journal.open(run_dir / JOURNAL_NAME)
    try:
        base = RunOptions.from_manifest(journal.manifest.options)
    finally:
        journal.close()
    options = resolve_options(overrides, base=base)
    options = RunOptions(
        api=options.api,
        refetch=options.refetch,
        assume_yes=options.assume_yes,
        job_name=f"undo-{run_dir.name}",
        snapshot="changes" if options.snapshot == "never" else options.snapshot,
        max_changes=options.max_changes,
        breaker=options.breaker,
        expected_failures=options.expected_failures,
    )
    run = run_files(
        [undo_csv],
        options=options,
        env=env,
        out=default_run_dir(f"undo-{run_dir.name}", root=run_dir.parent),
        confirm=confirm,
        progress_factory=progress_factory,
        origin=Origin(undoes=str(run_dir)),
        preconditions=preconditions,
    )
    return UndoResult(undo_dir, undo_csv, not_undoable_csv, len(rows), len(refused), run)
