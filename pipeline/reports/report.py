"""Write a run's reports from its row results and inputs (docs/reference/outputs.md).

results.parquet / results.csv   one row per input row, in input order
errors.csv, errors.xlsx         rows left to do, in the input's own columns, ready to rerun
orders.parquet                  the refetched orders
summary.json                    counts, requests, timing, inputs with sha256

frame = results_frame(table, results, orders)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.core.errors import OutputError
from pipeline.core.manifest import RunSummary
from pipeline.core.outcomes import (
    EXIT_OK,
    EXIT_ROWS_FAILED,
    EXIT_STOPPED,
    LEADING_COLUMNS,
    SUCCESS,
    Outcome,
)
from pipeline.inputs.csvsafe import guard_frame
from pipeline.inputs.read import InputTable
from pipeline.reports.orderfile import ORDER_KEYS, write_order_parquet
from pipeline.store.schema import RowResult

OUTCOME_SCHEMA: dict[str, Any] = {
    "__index": pl.Int64,
    "orderId": pl.Int64,
    "action": pl.String,
    "outcome": pl.String,
    "errorCode": pl.String,
    "error": pl.String,
    "httpStatus": pl.Int32,
    "attempts": pl.Int32,
    "latencyMs": pl.Float64,
    "changes": pl.String,
    "decidedAt": pl.Datetime("ms", "UTC"),
}
# How a time is written in results.csv: ISO 8601 in UTC, e.g. 2026-11-24T02:31:07.412Z.
CSV_TIME = "%Y-%m-%dT%H:%M:%S%.3fZ"


# The type of each results column that is not the input's own (text): `load_results`
# casts every run to these, so many runs make one frame.
RESULT_TYPES: dict[str, Any] = {
    "file": pl.String,
    "row": pl.Int64,
    "orderId": pl.Int64,
    "httpStatus": pl.Int32,
    "attempts": pl.Int32,
    "latencyMs": pl.Float64,
    "sourceRow": pl.Int64,
    "decidedAt": pl.Datetime("ms", "UTC"),
}


def outcome_frame(
    results: Sequence[RowResult], changes: Mapping[int, str] | None = None
) -> pl.DataFrame:
    """Row results as columns (OUTCOME_SCHEMA), sorted by input index.

    `changes`: per row index, the `field: old -> new` text from its before-image.
    """
    ordered = sorted(results, key=lambda r: r.index)
    described = changes or {}
    decided = [None if r.decided_at is None else round(r.decided_at * 1000) for r in ordered]
    return pl.DataFrame(
        {
            "__index": [r.index for r in ordered],
            "orderId": [r.order_id for r in ordered],
            "action": [r.action for r in ordered],
            "outcome": [r.outcome.value for r in ordered],
            "errorCode": [r.error_code.value if r.error_code else None for r in ordered],
            "error": [r.error for r in ordered],
            "httpStatus": [r.http_status for r in ordered],
            "attempts": [r.attempts for r in ordered],
            "latencyMs": [r.latency_ms for r in ordered],
            "changes": [described.get(r.index) for r in ordered],
            "decidedAt": pl.Series(decided, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
        },
        schema=OUTCOME_SCHEMA,
    )


def results_frame(table: InputTable, outcomes: pl.DataFrame, orders: pl.DataFrame) -> pl.DataFrame:
    """One row per input row: the contract's leading columns, then the input's own.

    `outcomes` has OUTCOME_SCHEMA, one row per input row, in input order.
    """
    if outcomes.height != table.raw.height:
        raise OutputError(
            f"internal error: {outcomes.height} results for {table.raw.height} input rows"
        )
    outcomes = outcomes.drop("__index")
    keys = orders.select("orderId", *ORDER_KEYS)
    with_order = outcomes.with_row_index("__position").join(keys, on="orderId", how="left")
    with_order = with_order.sort("__position").drop("__position")
    own = table.raw.drop("file", "row")
    renamed = {name: f"input.{name}" for name in own.columns if name in LEADING_COLUMNS}
    if "sourceRow" in own.columns:  # a rerun's origin: a row number, like `row`
        own = own.with_columns(pl.col("sourceRow").cast(pl.Int64, strict=False))
    return pl.concat(
        [table.raw.select("file", "row"), with_order, own.rename(renamed)], how="horizontal"
    ).select(*LEADING_COLUMNS, *[renamed.get(name, name) for name in own.columns])


def errors_frame(
    table: InputTable,
    results_table: pl.DataFrame,
    *,
    default_address_type: str,
    fixable_only: bool = False,
) -> pl.DataFrame:
    """Rows left to do, in the input's own columns plus `error` and `errorCode`.

    When the action or address type came from an option rather than a column,
    that column is added, so the file runs again as it is. `fixable_only`
    (validate): only the rows that need fixing, not the valid ones.
    """
    own = [name for name in table.raw.columns if name not in ("file", "row")]
    mapped = {field for source in table.files for field in source.columns.fields.values()}
    done = [o.value for o in SUCCESS] + ([Outcome.DRY_RUN.value] if fixable_only else [])
    keep = ~results_table["outcome"].is_in(done)
    left = results_table.filter(keep)
    added = []
    if "action" not in mapped:
        added.append(left["action"])
    if "addressType" not in mapped and (left["action"] == "address").any():
        added.append(
            left.select(
                pl.when(pl.col("action") == "address")
                .then(pl.lit(default_address_type))
                .alias("addressType")
            ).to_series()
        )
    return pl.concat(
        [
            table.raw.filter(keep).select(own),
            pl.DataFrame(added),
            left.select("error", "errorCode"),
        ],
        how="horizontal",
    )


def write_csv(frame: pl.DataFrame, path: Path, *, separator: str = ",") -> None:
    """CSV that Excel opens safely (formula guard on text cells), UTF-8 with BOM for Excel."""
    guard_frame(frame).write_csv(
        path, include_bom=True, separator=separator, datetime_format=CSV_TIME
    )


def write_text_workbook(frame: pl.DataFrame, path: Path, *, sheet: str = "errors") -> None:
    """An .xlsx where every cell is text as written: no formula, number or date guessing,
    so `=1+2` stays text without a guard and `01067` keeps its zero."""
    import xlsxwriter

    options = {"strings_to_formulas": False, "strings_to_numbers": False}
    # constant_memory: each row goes to disk once the next begins (rows are written in
    # order), instead of every cell of the sheet held until the end (~70 MB per 100,000).
    options |= {"strings_to_urls": False, "constant_memory": True}
    with xlsxwriter.Workbook(path, options) as book:
        worksheet = book.add_worksheet(sheet)
        text = book.add_format({"num_format": "@"})
        worksheet.write_row(0, 0, frame.columns)
        widths = [len(name) for name in frame.columns]
        for number, row in enumerate(frame.iter_rows(), start=1):
            for column, value in enumerate(row):
                if value is not None:
                    cell = str(value)
                    worksheet.write_string(number, column, cell, text)
                    widths[column] = max(widths[column], min(len(cell), 60))
        for column, width in enumerate(widths):
            worksheet.set_column(column, column, width + 2)


def write_reports(
    run_dir: Path,
    table: InputTable,
    outcomes: pl.DataFrame,
    orders: Iterable[tuple[int, str]],
    *,
    summary: RunSummary,
    default_address_type: str = "DELIVERY",
    fixable_only: bool = False,
) -> pl.DataFrame:
    """Write every report into `run_dir`; return the results frame."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        order_keys = write_order_parquet(orders, run_dir / "orders.parquet")
        frame = results_frame(table, outcomes, order_keys)
        frame.write_parquet(run_dir / "results.parquet")
        write_csv(frame, run_dir / "results.csv")
        errors = errors_frame(
            table, frame, default_address_type=default_address_type, fixable_only=fixable_only
        )
        write_csv(errors, run_dir / "errors.csv", separator=table.separator)
        write_text_workbook(errors, run_dir / "errors.xlsx")
        (run_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    except OSError as error:
        raise OutputError(f"cannot write the reports in {run_dir}: {error.strerror}") from None
    return frame


def count_outcomes(outcomes: pl.DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    """Counts per outcome and per errorCode, most frequent first."""

    def counts(column: str) -> dict[str, int]:
        values = outcomes[column].drop_nulls().value_counts(sort=True)
        return {str(value): int(n) for value, n in values.iter_rows()}

    return counts("outcome"), counts("errorCode")


def exit_code_for(outcomes: dict[str, int], *, stopped: bool) -> int:
    """3 stopped early; 0 all applied/duplicate/unchanged (or a clean dry run); 1 else.

    See docs/reference/exit-codes.md."""
    if stopped:
        return EXIT_STOPPED
    fine = {o.value for o in SUCCESS} | {Outcome.DRY_RUN.value}
    return EXIT_OK if set(outcomes) <= fine else EXIT_ROWS_FAILED
