"""quivo-bulk: bulk changes to Quivo fulfillment orders.

read -> validate -> plan -> send -> refetch/verify -> report, with a journal
that makes every run resumable. The CLI (`pipeline.cli`) is a thin layer over
these library functions, which a notebook can call directly:

    from pipeline import Environment, load_results, rerun_run
    result = rerun_run(Path("runs/last-night"), cli={}, env=Environment())
    result.results.filter(pl.col("outcome") != "applied")

Names are imported on first use, so `quivo-bulk --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "run_files": "pipeline.run.runner",
    "validate_files": "pipeline.run.runner",
    "RunResult": "pipeline.run.runner",
    "resume_run": "pipeline.run.durable",
    "rerun_run": "pipeline.run.rerun",
    "rerun_runs": "pipeline.run.rerun",
    "rebuild_reports": "pipeline.run.durable",
    "load_results": "pipeline.run.durable",
    "run_frame": "pipeline.run.frame",
    "latest_run": "pipeline.run.frame",
    "ApiSettings": "pipeline.settings",
    "sweep_job": "pipeline.run.sweep",
    "load_sweeps": "pipeline.run.sweepstate",
    "plan_files": "pipeline.run.planfile",
    "plan_frame": "pipeline.run.planfile",
    "PlanResult": "pipeline.run.planfile",
    "apply_plan": "pipeline.run.apply",
    "undo_run": "pipeline.run.undo",
    "UndoResult": "pipeline.run.undo",
    "load_job": "pipeline.jobfile",
    "Environment": "pipeline.settings",
    "RunOptions": "pipeline.settings",
    "resolve_options": "pipeline.settings",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
