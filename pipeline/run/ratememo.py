"""A job remembers the rate `--rate auto` found, as its next run's start (SPEC §12).

The memory is a small JSON file beside the job's runs, `<runs_dir>/<job>.rate.json`,
owner-only like the runs. A run that adapted writes it; the next run of the job
with `--rate auto` starts there instead of at the safe default.

    start = remembered_rate(job)           # None before the first auto run
    remember_rate(job, result.summary)     # after a run
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.jobfile import JobFile


def rate_file(job: JobFile) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", job.job_name).strip("-") or "job"
    return job.resolve(job.runs_dir) / f"{name}.rate.json"


def remembered_rate(job: JobFile) -> float | None:
    """The rate the job's last auto run found, or None (no file, or one not readable)."""
    try:
        found = json.loads(rate_file(job).read_text())["found_per_s"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(found) if isinstance(found, int | float) and found > 0 else None


def remember_rate(job: JobFile, summary: dict[str, Any]) -> Path | None:
    """Keep the rate an auto run found; return the file, or None when there is nothing to keep."""
    rate = summary.get("rate") or {}
    found = rate.get("found_per_s")
    if not rate.get("auto") or not found:
        return None
    path = rate_file(job)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = {
        "found_per_s": found,
        "run_dir": summary.get("run_dir"),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(json.dumps(body, indent=2) + "\n")
    temporary.replace(path)
    return path
