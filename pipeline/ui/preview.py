"""Step 4, the preview: what sending this draft would do, order by order.

Built from the library's send plan (`Prepared.plan`): the new value of every
field each row sets, the rows that will not be sent and why, and the number
of orders a cancel reaches (the count the person types to confirm).

    shown = preview(check, limit=500)
    shown["counts"]  # {"orders": 12, "cancels": 3, "invalid": 4, "duplicate": 1}
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from pipeline.ui.drafts import Check


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def preview(check: Check, *, limit: int) -> dict[str, Any]:
    """Orders to change (up to `limit`), rows that will fail, and the counts."""
    plan = check.prepared.plan
    rows_shown = check.original.raw["row"].to_list()
    orders = []
    for work in islice(plan.works(), limit):
        changes = [
            {
                "row": rows_shown[change.index],
                "action": change.action,
                "fields": [(path, _shown(value)) for path, value in change.claims().items()],
            }
            for change in work.changes
        ]
        orders.append({"orderId": work.order_id, "changes": changes})
    failing = [
        {"row": rows_shown[r.index], "orderId": r.order_id, "code": r.code.value, "why": r.message}
        for r in plan.rejections[:limit]
    ]
    counts = check.counts()
    return {
        "orders": orders,
        "failing": failing,
        "counts": {
            "orders": len(plan.order_ids),
            "rows": plan.change_count,
            "cancels": plan.cancel_orders(),
            "invalid": counts["invalid"],
            "duplicate": counts["duplicate"],
        },
        "shown": len(orders),
    }
