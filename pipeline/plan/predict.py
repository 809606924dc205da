"""Predict each row of a plan from the orders as read, and summarise (docs/plan-apply-undo.md).

Pure functions over the prepared input and the read answers:

    predictions = predict(prepared, answers)     # one Prediction per input row
    plan_table(prepared, predictions, answers)   # plan.parquet's frame
    plan_summary(...)                            # what summary.json and the CLI show

Predictions: `will_change`, `unchanged`, `will_fail` (the order is missing or its
status forbids the action), `invalid`, `duplicate`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.api.client import Answer
from pipeline.config.settings import RunOptions
from pipeline.core.manifest import PlanSummary
from pipeline.core.outcomes import EXIT_OK, EXIT_ROWS_FAILED, EXIT_STOPPED, Outcome
from pipeline.plan.diff import (
    CANCEL_FIELD,
    current,
    decide,
    describe_changes,
    field_changes,
    field_label,
    kept_fields,
    targets,
    unread,
)
from pipeline.plan.prepare import Prepared, locator
from pipeline.store.images import request_costs
from pipeline.store.journal import Journal
from pipeline.store.schema import RowResult

PREDICTIONS = ("will_change", "unchanged", "will_fail", "invalid", "duplicate")
PLAN_COLUMNS = ("file", "row", "orderId", "action", "prediction", "reason", "changes")


@dataclass(frozen=True, slots=True)
class Prediction:
    index: int
    order_id: int | None
    action: str | None
    prediction: str
    reason: str | None = None
    code: str | None = None
    changes: str | None = None


def predict(prepared: Prepared, answers: Mapping[int, Answer]) -> list[Prediction]:
    """Each input row's prediction from the orders as read (pure)."""
    locate = locator(prepared.table)
    found: list[Prediction] = [
        Prediction(r.index, r.order_id, r.action, "invalid", r.message, r.code.value)
        for r in prepared.plan.rejections
    ]
    found += [
        Prediction(
            d.index, d.order_id, d.action, "duplicate", f"same change as {locate(d.original)}"
        )
        for d in prepared.plan.duplicates
    ]
    for index, order_id, action in prepared.plan.sendable():
        change = prepared.plan.checked.change(index)
        answer = answers.get(order_id)
        if answer is None or not answer.ok or not isinstance(answer.body, dict):
            missing = answer or Answer(None, None, None, "not read: the plan stopped", 0, None)
            failed: RowResult = unread(change, missing)
            code = failed.error_code.value if failed.error_code else "aborted"
            found.append(Prediction(index, order_id, action, "will_fail", failed.error, code))
            continue
        decided = decide(change, answer.body)
        changes = describe_changes(change, answer.body)
        if decided is None:
            found.append(Prediction(index, order_id, action, "will_change", changes=changes))
        elif decided.outcome is Outcome.UNCHANGED:
            found.append(
                Prediction(index, order_id, action, "unchanged", "the order already holds this")
            )
        else:
            why = decided.error_code.value if decided.error_code else None
            found.append(Prediction(index, order_id, action, "will_fail", decided.error, why))
    if prepared.unsent:
        unsent: dict[int, list[str]] = defaultdict(list)
        for header, indexes in prepared.unsent:
            for index in indexes:
                unsent[index].append(header)
        found = [_with_unsent(p, unsent.get(p.index)) for p in found]
    return sorted(found, key=lambda p: p.index)


def _with_unsent(prediction: Prediction, headers: list[str] | None) -> Prediction:
    """The plan's reason names the row's cells its action does not send."""
    if not headers or prediction.prediction in ("invalid", "duplicate"):
        return prediction
    unsent = "not sent: " + ", ".join(f"'{h}'" for h in headers)
    reason = f"{prediction.reason}; {unsent}" if prediction.reason else unsent
    return replace(prediction, reason=reason)


def plan_table(
    prepared: Prepared, predictions: Sequence[Prediction], orders: Mapping[int, Answer]
) -> pl.DataFrame:
    """plan.parquet's frame: the contract's columns, then the input's own."""

    def status(order_id: int | None) -> str | None:
        answer = orders.get(order_id) if order_id is not None else None
        body = answer.body if answer is not None and answer.ok else None
        return str(body.get("orderStatus")) if isinstance(body, dict) else None

    raw = prepared.table.raw
    made = pl.DataFrame(
        {
            "orderId": [p.order_id for p in predictions],
            "action": [p.action for p in predictions],
            "prediction": [p.prediction for p in predictions],
            "reason": [p.reason for p in predictions],
            "changes": [p.changes for p in predictions],
            "orderStatus": [status(p.order_id) for p in predictions],
        },
        schema={
            "orderId": pl.Int64,
            "action": pl.String,
            "prediction": pl.String,
            "reason": pl.String,
            "changes": pl.String,
            "orderStatus": pl.String,
        },
    )
    own = raw.drop("file", "row")
    taken = set(made.columns) | {"file", "row"}
    own = own.rename({name: f"input.{name}" for name in own.columns if name in taken})
    return pl.concat([raw.select("file", "row"), made, own], how="horizontal")


def plan_summary(
    prepared: Prepared,
    predictions: Sequence[Prediction],
    answers: Mapping[int, Answer],
    *,
    plan_dir: Path,
    options: RunOptions,
    journal: Journal,
    stopped: str | None,
) -> PlanSummary:
    """How many orders change, per field how many values change, failures and why."""
    locate = locator(prepared.table)
    counts = Counter(p.prediction for p in predictions)
    fields: Counter[str] = Counter()
    kept: Counter[str] = Counter()  # values an address row keeps because it does not name them
    changing: set[int] = set()
    cancels: set[int] = set()
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        if p.prediction in ("will_fail", "invalid"):
            groups[p.code or "unknown"].append(p)
        if p.prediction != "will_change" or p.order_id is None:
            continue
        changing.add(p.order_id)
        if p.action == "cancel":
            cancels.add(p.order_id)
            continue
        order = answers[p.order_id].body
        change = prepared.plan.checked.change(p.index)
        for path, _, _ in field_changes(change, order):
            fields[field_label(path)] += 1
        for path in kept_fields(change, order):
            kept[field_label(path)] += 1
    failures = {
        code: {
            "count": len(rows),
            "message": Counter(r.reason for r in rows).most_common(1)[0][0],
            "examples": [locate(r.index) for r in rows[:3]],
        }
        for code, rows in sorted(groups.items(), key=lambda item: -len(item[1]))
    }
    costs = request_costs(journal, len(predictions), profile=options.api.profile)
    fine = counts["will_change"] + counts["unchanged"] == len(predictions)
    return PlanSummary.model_validate(
        {
            "command": "plan",
            "plan_dir": str(plan_dir),
            "base_url": options.api.base_url,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "rows": len(predictions),
            "predictions": {name: counts[name] for name in PREDICTIONS if counts[name]},
            "orders_changing": len(changing),
            "field_changes": dict(fields.most_common()),
            "fields_kept": dict(kept.most_common()),
            "cancels": len(cancels),
            "failures": failures,
            "requests": sum(costs["requests_by_kind"].values()),
            **costs,
            "inputs": [
                {"file": f.name, "sha256": f.sha256, "rows": f.rows} for f in prepared.table.files
            ],
            "warnings": list(prepared.table.warnings),
            "stopped": stopped,
            "exit_code": EXIT_STOPPED if stopped else (EXIT_OK if fine else EXIT_ROWS_FAILED),
        }
    )


def preconditions(
    prepared: Prepared,
    predictions: Sequence[Prediction],
    answers: Mapping[int, Answer],
    *,
    every_read: bool = False,
) -> dict[int, dict[str, Any]]:
    """What apply checks per order: its status and every field the plan changes, as read.

    `every_read`: every order the plan read, with every field its rows set (the UI's
    Send runs all the draft's rows: one predicted unchanged or failing must not be
    sent either when its order moved since the preview).
    """
    found: dict[int, dict[str, Any]] = {}
    for p in predictions:
        if p.order_id is None or p.prediction in ("invalid", "duplicate"):
            continue
        answer = answers.get(p.order_id)
        if not every_read and p.prediction != "will_change":
            continue
        if answer is None or not answer.ok or not isinstance(answer.body, dict):
            continue  # not read: nothing to compare with (a missing order fails again)
        order = answer.body
        expected = found.setdefault(p.order_id, {"orderStatus": order.get("orderStatus")})
        for path, _ in targets(prepared.plan.checked.change(p.index)):
            planned_cancel = path == CANCEL_FIELD and p.prediction == "will_change"
            expected[path] = False if planned_cancel else current(order, path)
    return found


def summary_lines(summary: PlanSummary) -> list[str]:
    """The plan's summary as a person reads it (the CLI prints these)."""
    lines = [
        f"plan of {summary.rows} rows: {summary.orders_changing} orders will change"
        f" ({summary.cancels} cancelled)",
        "  " + ", ".join(f"{name} {count}" for name, count in summary.predictions.items()),
    ]
    if summary.field_changes:
        lines.append("  values that change per field:")
        lines += [f"    {field}: {n}" for field, n in summary.field_changes.items()]
    for code, group in summary.failures.items():
        lines.append(
            f"  {code}: {group.count} row{'s' if group.count != 1 else ''}"
            f" ({', '.join(group.examples)}): {group.message}"
        )
    if summary.fields_kept:
        lines.append(
            "  values kept as they are (the rows do not name them): "
            + ", ".join(f"{field} {n}" for field, n in summary.fields_kept.items())
        )
    # Rows hidden by a filter are easy to forget: the plan names them again.
    lines += [f"  {w}" for w in summary.warnings if "hidden (filtered out)" in w]
    lines.append(
        f"  requests: {summary.requests} ({summary.requests_per_row} per row); nothing was changed"
    )
    return lines
