"""Where `--rate auto` starts: the rate a job or an earlier session found (docs/rates.md).

A job's memory is a small JSON file beside its runs, `<runs_dir>/<job>.rate.json`,
owner-only like the runs. A run that adapted writes it; the job's next run with
`--rate auto` starts there instead of at the safe default, and so does a `rerun`
of one of the job's runs. A `resume` continues at the rate its own earlier
sessions found, kept in the run's journal.

    start = remembered_rate(job)                     # None before the first auto run
    remember_rate(job, result.summary)               # after a run
    options = resumed_rate(options, journal.rates())  # resume: hold just below the limit found
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config.jobfile import JobFile
from pipeline.config.settings import RunOptions
from pipeline.core.manifest import RunSummary


def _file_name(job_name: str) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]+", "-", job_name).strip("-") or "job") + ".rate.json"


def rate_file(job: JobFile) -> Path:
    return job.resolve(job.runs_dir) / _file_name(job.job_name)


def _read(path: Path) -> float | None:
    try:
        found = json.loads(path.read_text())["found_per_s"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(found) if isinstance(found, int | float) and found > 0 else None


def remembered_rate(job: JobFile) -> float | None:
    """The rate the job's last auto run found, or None (no file, or one not readable)."""
    return _read(rate_file(job))


def start_at_remembered(options: RunOptions, job: JobFile | None) -> RunOptions:
    """A job's `--rate auto` run (or sweep) starts at the rate its last auto run found."""
    if job is None or not options.api.rate_auto:
        return options
    start = remembered_rate(job)
    if not start:
        return options
    return replace(options, api=replace(options.api, rate_start_per_s=start))


def remember_rate(job: JobFile, summary: RunSummary) -> Path | None:
    """Keep the rate an auto run found; return the file, or None when there is nothing to keep."""
    return _write(rate_file(job), summary)


def _write(path: Path, summary: RunSummary) -> Path | None:
    rate = summary.rate
    found = rate.found_per_s if rate is not None else None
    if rate is None or not rate.auto or not found:
        return None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = {
        "found_per_s": found,
        "run_dir": summary.run_dir,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(json.dumps(body, indent=2) + "\n")
    temporary.replace(path)
    return path


def _beside(run_dir: Path, options: RunOptions) -> Path | None:
    """The memory of the job whose runs live beside `run_dir` (a job's runs_dir)."""
    if not options.job_name:
        return None
    return run_dir.resolve().parent / _file_name(options.job_name)


def rerun_rate(options: RunOptions, *, run_dir: Path, found: dict[str, Any] | None) -> RunOptions:
    """A rerun of `run_dir` with `--rate auto` starts at its job's remembered rate, else at
    the rate that run found (`found`: its journal's `rates()`), else at the default."""
    if not options.api.rate_auto:
        return options
    memory = _beside(run_dir, options)
    start = _read(memory) if memory is not None else None
    if start is None and found is not None and found["auto"]:
        start = found["settled_per_s"]
    if not start:
        return options
    return replace(options, api=replace(options.api, rate_start_per_s=start))


def remember_rerun_rate(options: RunOptions, *, run_dir: Path, summary: RunSummary) -> None:
    """After a rerun of a job's run: the rate it found is the job's next start."""
    memory = _beside(run_dir, options)
    if memory is not None and memory.exists():
        _write(memory, summary)


def resumed_rate(options: RunOptions, found: dict[str, Any] | None) -> RunOptions:
    """A resumed auto run continues where its earlier sessions left the rate (`found`: the
    journal's `rates()`): just below the limit a 429 showed, or, before any 429, at the rate
    its slow start had reached; never again from the safe default."""
    api = options.api
    if not api.rate_auto or found is None or not found["auto"]:
        return options
    if found["found_per_s"]:
        return replace(options, api=replace(api, rate_known_limit_per_s=found["found_per_s"]))
    return replace(options, api=replace(api, rate_start_per_s=found["final_per_s"]))
