"""quivo-bulk: bulk changes to Quivo fulfillment orders.

read -> validate -> plan -> send -> refetch/verify -> report, with a journal
that makes every run resumable. The CLI (`pipeline.cli`) is a thin layer over
these library functions, which a notebook can call directly:

    from pipeline import Environment, Options, load_results, rerun_run
    result = rerun_run(Path("runs/last-night"), overrides=Options(rate=2.0), env=Environment())
    result.results.filter(pl.col("outcome") != "applied")

Names are imported on first use, so `quivo-bulk --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "run_files": "pipeline.flows.run",
    "validate_files": "pipeline.flows.run",
    "RunResult": "pipeline.flows.run",
    "resume_run": "pipeline.flows.resume",
    "rerun_run": "pipeline.flows.rerun",
    "rerun_runs": "pipeline.flows.rerun",
    "rebuild_reports": "pipeline.flows.resume",
    "load_results": "pipeline.flows.resume",
    "run_frame": "pipeline.flows.frame",
    "latest_run": "pipeline.flows.frame",
    "ApiSettings": "pipeline.config.settings",
    "sweep_job": "pipeline.flows.sweep",
    "load_sweeps": "pipeline.store.sweeps",
    "plan_files": "pipeline.flows.plan",
    "plan_frame": "pipeline.flows.plan",
    "PlanResult": "pipeline.flows.plan",
    "apply_plan": "pipeline.flows.apply",
    "undo_run": "pipeline.flows.undo",
    "UndoResult": "pipeline.flows.undo",
    "load_job": "pipeline.config.jobfile",
    "Environment": "pipeline.config.settings",
    "RunOptions": "pipeline.config.settings",
    "Options": "pipeline.config.options",
    "resolve_options": "pipeline.config.settings",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
