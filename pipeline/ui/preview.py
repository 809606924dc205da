"""Step 4, the preview: the library's plan (docs/plan-apply-undo.md) of a draft, shaped for the
page.

Every targeted order is read (nothing is sent): per row the prediction
(`will_change`, `unchanged`, `will_fail`, `invalid`, `duplicate`), why, and the
changes as `field: old -> new`; per field how many values change; how many
orders a cancel reaches (the count the person types to confirm).

    shown = preview(draft.plan(options, env=env), limit=500)
    shown["cancels"], shown["rows"][0]["changes"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from pipeline.flows.plan import PlanResult

SHOWN_COLUMNS = ("row", "orderId", "action", "prediction", "reason", "changes", "orderStatus")
# The rows a person must look at first: what will fail, then what changes, then the rest.
ORDER = {"will_fail": 0, "invalid": 1, "will_change": 2, "duplicate": 3, "unchanged": 4}


def preview(result: PlanResult, *, limit: int) -> dict[str, Any]:
    """Counts, per-field changes, failure groups, and up to `limit` rows (failures first)."""
    summary = result.summary
    frame = result.plan
    from pipeline.ui.problems import her_key

    columns = [c for c in SHOWN_COLUMNS if c in frame.columns]
    key = her_key(frame.columns)
    if key is not None:  # her order number beside Quivo's orderId
        columns.insert(columns.index("orderId"), key)
    ranked = frame.with_columns(
        pl.col("prediction").replace_strict(ORDER, default=9).alias("__rank")
    ).sort("__rank", maintain_order=True)
    rows = [
        dict(zip(columns, values, strict=True))
        for values in ranked.select(columns).head(limit).iter_rows()
    ]
    return {
        "predictions": summary.predictions,
        "orders_changing": summary.orders_changing,
        "field_changes": summary.field_changes,
        "failures": {code: group.model_dump() for code, group in summary.failures.items()},
        "cancels": summary.cancels,
        "will_change": summary.predictions.get("will_change", 0),
        "rows": rows,
        "total": frame.height,
        "columns": columns,
        "stopped": summary.stopped,
    }
