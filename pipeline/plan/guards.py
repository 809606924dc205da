"""Guards against a wrong file (docs/plan-apply-undo.md): limits, the breaker, a file already run.

- `check_limits`: a run that would change (or cancel) more orders than
  `--max-changes` / `--max-cancels` allow raises before anything is sent (exit 2).
- `Breaker`: when more than half of the first 20 rows sent (then of any 50 in a
  row) fail with the same `order_not_found` or `rejected`, the run stops (exit 3,
  resumable): the file is systematically wrong, not the orders.
- `earlier_runs`: runs of the same runs directory that already ran an input file
  with the same sha256.

    breaker = Breaker()
    reason = breaker.record(ErrorCode.ORDER_NOT_FOUND, "row 7")  # None, or why to stop
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path

from pipeline.config.settings import RunOptions
from pipeline.core.errors import LimitExceeded, OptionsError, RunDirError
from pipeline.core.manifest import read_manifest
from pipeline.core.outcomes import ErrorCode
from pipeline.plan.sequence import Plan

log = logging.getLogger(__name__)
SYSTEMATIC = frozenset({ErrorCode.ORDER_NOT_FOUND, ErrorCode.REJECTED})
FIRST_ROWS, WINDOW_ROWS = 20, 50


def order_counts(plan: Plan) -> tuple[int, int]:
    """(orders the run would change in any way, orders it would cancel)."""
    orders: set[int] = set()
    cancels: set[int] = set()
    for _, order_id, action in plan.sendable():
        orders.add(order_id)
        if action == "cancel":
            cancels.add(order_id)
    return len(orders), len(cancels)


def check_limits(plan: Plan, *, max_changes: int | None, max_cancels: int | None) -> None:
    """Raise LimitExceeded (exit 2, nothing sent) when the plan exceeds a limit."""
    changes, cancels = order_counts(plan)
    if max_cancels is not None and cancels > max_cancels:
        raise LimitExceeded(
            f"this run would cancel {cancels} orders, more than --max-cancels {max_cancels}"
            " allows; nothing was sent. Check the file; if it is right, raise --max-cancels"
            " (job key max_cancels)",
            limit=("max_cancels", cancels),
        )
    if max_changes is not None and changes > max_changes:
        raise LimitExceeded(
            f"this run would change {changes} orders, more than --max-changes {max_changes}"
            " allows; nothing was sent. Check the file; if it is right, raise --max-changes"
            " (job key max_changes)",
            limit=("max_changes", changes),
        )


class Breaker:
    """Trips when rows fail systematically with one code (a count over a sliding window)."""

    def __init__(self, *, first: int = FIRST_ROWS, window: int = WINDOW_ROWS) -> None:
        self._first, self._window = first, window
        self._seen = 0
        self._recent: deque[tuple[ErrorCode | None, str]] = deque(maxlen=window)

    def record(self, code: ErrorCode | None, where: str) -> str | None:
        """Add one row that was sent (its failure code, or None); return why to stop, if so."""
        self._seen += 1
        self._recent.append((code if code in SYSTEMATIC else None, where))
        if self._seen <= self._first:
            rows = list(self._recent)[-self._seen :]
            limit = self._first // 2  # more than half of the first rows, as soon as it is sure
        else:
            rows = list(self._recent)
            if len(rows) < self._window:
                return None
            limit = self._window // 2
        counts = Counter(c for c, _ in rows if c is not None)
        for failing, count in counts.items():
            if count > limit:
                examples = [w for c, w in rows if c is failing][:3]
                return (
                    f"the breaker stopped the run: {count} of the last {len(rows)} rows sent"
                    f" failed with {failing.value} (e.g. {', '.join(examples)}); the file may"
                    " be wrong (shifted rows, wrong column?). Check it, then resume or rerun"
                    " with --no-breaker"
                )
        return None


def earlier_runs(runs_root: Path, sha256s: set[str], *, exclude: Path | None = None) -> list[Path]:
    """Run directories under `runs_root` that already ran an input with one of `sha256s`."""
    if not runs_root.is_dir() or not sha256s:
        return []
    found = []
    for run_dir in sorted(p for p in runs_root.iterdir() if p.is_dir()):
        if exclude is not None and run_dir.resolve() == exclude.resolve():
            continue
        if sha256s & _input_hashes(run_dir):
            found.append(run_dir)
    return found


def _input_hashes(run_dir: Path) -> set[str]:
    journal = run_dir / "journal.sqlite"
    if not journal.exists():
        return set()
    try:
        connection = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            row = connection.execute("SELECT body FROM manifest WHERE id = 1").fetchone()
        finally:
            connection.close()
        manifest = read_manifest(json.loads(row[0])) if row else None
    except (sqlite3.Error, ValueError, RunDirError):
        return set()
    if manifest is None or manifest.kind != "run":
        return set()
    return {entry.sha256 for entry in manifest.inputs}


def already_run(
    hashes: set[str],
    run_dir: Path,
    *,
    sends: bool,
    options: RunOptions,
    confirm_again: Callable[[str], bool] | None,
) -> tuple[str, ...]:
    """Name the earlier runs of the same input file (same sha256) before sending.

    With `confirm_again` (a terminal) the person is asked; otherwise it is a warning.
    """
    if not sends:
        return ()
    earlier = earlier_runs(run_dir.parent, hashes, exclude=run_dir)
    if not earlier:
        return ()
    names = ", ".join(str(p) for p in earlier[-3:])
    message = f"this input was already run from {run_dir.parent}: {names}"
    if options.snapshot != "never":
        message += "; rows whose orders already hold the values become unchanged (one read each)"
    if confirm_again is not None and not options.assume_yes:
        if not confirm_again(message):
            raise OptionsError("not confirmed; nothing was sent")
        return ()
    log.warning("%s", message)
    return (message,)
