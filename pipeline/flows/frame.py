"""The library from a notebook (docs/guide/notebook.md): a run from a DataFrame, and finding past
runs.

    result = run_frame(df, action="cancel", env=Environment())   # like run_files
    last = latest_run(Path("runs/nightly"), job="nightly-cancellation-sweep")
    frame = load_results([last])                                # see durable.load_results

Options built here take the base URL from QUIVO_BASE_URL like the CLI; a call that
cannot start (no credentials, bad options) leaves no run directory behind.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl

from pipeline.config.options import Options
from pipeline.config.settings import Environment, RunOptions, settle_base_url
from pipeline.core.errors import OptionsError, RunDirError
from pipeline.core.names import check_names, closest_name, unknown_name
from pipeline.flows.run import Confirm, ProgressFactory, RunResult, default_run_dir, run_files
from pipeline.inputs.changes import ACTIONS
from pipeline.send.progress import Progress
from pipeline.store.journal import JOURNAL_NAME
from pipeline.store.rundir import check_fresh, make_run_dir, remove_unstarted, seal

RUN_FRAME_KEYWORDS = ("action", "options", "env", "out", "name", "confirm", "progress_factory")


def _misspelt(name: str) -> str:
    """What to say of a keyword run_frame does not take: the closest name, and where the
    run's options go."""
    close = closest_name(name, [*RUN_FRAME_KEYWORDS, *Options.model_fields])
    if close is None or close in RUN_FRAME_KEYWORDS:
        return unknown_name(name, RUN_FRAME_KEYWORDS)
    return (
        f"unknown option '{name}' (did you mean '{close}'?): a run's options go in"
        f" options=resolve_options(Options({close}=...))"
    )


def run_frame(
    frame: pl.DataFrame,
    *,
    action: str | None = None,
    options: RunOptions | None = None,
    env: Environment | None = None,
    out: Path | None = None,
    name: str = "frame",
    confirm: Confirm | None = None,
    progress_factory: ProgressFactory = Progress,
    **misspelt: object,
) -> RunResult:
    """`run_files` for a polars DataFrame (one row per change, the input's columns).

    The frame is kept as `inputs/<name>.parquet` in the run directory (every cell as
    text, as a file would be read); reports name its rows as rows of `<name>`. A name
    it does not know (`max_cancel=1`) is an error naming the closest one; the options
    of a run go in `options=` (RunOptions, or `resolve_options(Options(...))`).
    """
    if misspelt:
        raise OptionsError("; ".join(_misspelt(name) for name in misspelt))
    env = env if env is not None else Environment()
    options = options or RunOptions()
    if action is not None:
        check_names([action], ACTIONS, what="action")
        options = replace(options, action=action)
    options = settle_base_url(options, env)
    if frame.height:
        env.credentials().check()  # before anything is written
    run_dir = out or default_run_dir(options.job_name or name)
    check_fresh(run_dir)
    make_run_dir(run_dir)
    try:
        source = run_dir / "inputs" / f"{name}.parquet"
        source.parent.mkdir(mode=0o700)
        frame.select(pl.all().cast(pl.String)).write_parquet(source)
        seal(run_dir)
        return run_files(
            [source],
            options=options,
            env=env,
            out=run_dir,
            confirm=confirm,
            progress_factory=progress_factory,
            names=[name],
            prepared_dir=True,
        )
    except BaseException:
        if not (run_dir / JOURNAL_NAME).exists():
            remove_unstarted(run_dir)
        raise


def latest_run(runs_dir: Path, job: str | None = None) -> Path:
    """The newest run directory under `runs_dir` (names start with their UTC time),
    or the newest of `job`'s runs."""
    runs = (
        sorted(
            path
            for path in runs_dir.iterdir()
            if path.is_dir()
            and (path / JOURNAL_NAME).exists()
            and (job is None or path.name[17:].startswith(job))
        )
        if runs_dir.is_dir()
        else []
    )
    if not runs:
        which = f" of job '{job}'" if job else ""
        raise RunDirError(f"no run directory{which} in {runs_dir}")
    return runs[-1]
