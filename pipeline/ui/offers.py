"""Which buttons a run's results page offers: undo (not for a cancel-only run, not twice),
rerun (only when something did not land for a passing reason), plan the stale rows again;
and the notes about how the file was read.

    offer = undo_offer(run_dir, state, results)   # {} when there is nothing to undo
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipeline.core.manifest import PlanSummary, RunSummary
from pipeline.ui.history import (
    undo_of,
    undoable_rows,
)


def notes_of(summary: RunSummary | PlanSummary | None) -> list[str]:
    """How the file was read (the run's warnings); hidden rows are said by the Check step
    in words, not by the command-line flag the CLI's warning names."""
    warnings = summary.warnings if summary is not None else []
    return [str(w) for w in warnings if "--skip-hidden-rows" not in str(w)]


def undo_offer(run_dir: Path, state: str, results: pl.DataFrame | None) -> dict[str, Any]:
    """Whether undo applies: {"rows": n} to offer it, {"done": name} once it was done,
    {} when there is nothing to set back (a cancel-only or validate run, no before-images)."""
    if state != "finished" or not (run_dir / "before.parquet").exists():
        return {}
    done = undo_of(run_dir)
    if done is not None:
        return {"done": done.name}
    rows = undoable_rows(results)
    return {"rows": rows} if rows else {}


def rerun_offer(run_dir: Path, state: str, results: pl.DataFrame | None) -> dict[str, Any]:
    """Whether a rerun applies: {"rows": n}, {"done": name} once rerun, else {}."""
    from pipeline.core.outcomes import ErrorCode, Outcome
    from pipeline.flows.rerun import reruns_of, wanted

    if state != "finished" or results is None:
        return {}
    if taken := reruns_of(run_dir):
        return {"done": Path(taken[-1]).name}

    def code_of(code: str | None) -> ErrorCode | None:
        try:
            return ErrorCode(code or "")
        except ValueError:
            return None

    rows = sum(
        wanted(Outcome(outcome), code_of(code), include_permanent=False)
        for outcome, code in results.select("outcome", "errorCode").iter_rows()
    )
    return {"rows": rows} if rows else {}


def stale_rows(results: pl.DataFrame | None, *, shown: int = 20) -> dict[str, Any] | None:
    """The rows left unsent because their orders changed since the preview: count, rows."""
    if results is None:
        return None
    stale = results.filter(pl.col("outcome") == "stale")
    if stale.is_empty():
        return None
    return {"count": stale.height, "rows": stale["row"].head(shown).to_list()}
