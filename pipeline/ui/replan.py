"""Plan again: a run's stale rows (their orders changed by someone else after its
preview) as a new draft, read with the run's own settings, ready for a new preview.

    draft = stale_draft(Path("runs/20261124T101500Z-fixes"), runs_dir=Path("runs"))
    # /draft/<draft.name>/preview reads those orders as they are now

The rows are copied from the run's inputs (the run directory is not changed); the
new draft's file keeps `sourceFile` / `sourceRow`, as a rerun's does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pipeline.config.settings import RunOptions
from pipeline.core.errors import RunDirError
from pipeline.core.outcomes import Outcome
from pipeline.flows.resume import prepare_again, subset_inputs
from pipeline.store.journal import JOURNAL_NAME, Journal
from pipeline.ui.drafts import Draft


def stale_draft(run_dir: Path, *, runs_dir: Path) -> Draft:
    """A new draft under `runs_dir` holding exactly the stale rows of `run_dir`."""
    journal = Journal.open(run_dir / JOURNAL_NAME)
    try:
        manifest = journal.manifest
        indexes = [r.index for r in journal.results() if r.outcome is Outcome.STALE]
    finally:
        journal.close()
    if not indexes:
        raise RunDirError(f"{run_dir.name} has no stale row to plan again")
    options = RunOptions.from_manifest(manifest.options)
    prepared = prepare_again(run_dir, manifest, options)
    with tempfile.TemporaryDirectory() as folder:  # owner-only; gone once copied
        paths, _ = subset_inputs(prepared, indexes, Path(folder) / "stale" / "inputs")
        uploads = [(f"stale-{path.name}", path.read_bytes()) for path in paths]
    draft = Draft.create(runs_dir, uploads=uploads)
    draft.choose(
        action=options.action,
        address_type=options.address_type,
        columns=dict(options.columns),
    )
    return draft
