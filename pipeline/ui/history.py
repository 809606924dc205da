"""The run directories under the runs folder: which exist, their state, their files.

A name from the browser is only ever looked up among the directories listed
here, and a download only among `DOWNLOADS`: no path the browser sends is
opened as given.

    runs = list_runs(Path("runs"))          # newest first
    path = run_path(Path("runs"), "20261124T101500Z-fixes")   # None if not a run here
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.core.errors import RunDirError
from pipeline.core.manifest import PlanSummary, RunSummary, read_plan_summary
from pipeline.core.manifest import read_summary as read_run_summary
from pipeline.core.outcomes import EXIT_STOPPED
from pipeline.store.journal import JOURNAL_NAME
from pipeline.ui.drafts import DRAFT_FILE

# What the results page offers, by the name the browser asks for.
DOWNLOADS = {
    "results.xlsx": "results.xlsx",
    "results.csv": "results.csv",
    "errors.xlsx": "errors.xlsx",
    "errors.csv": "errors.csv",
    "undo.csv": "undo/undo.csv",
    "not-undoable.csv": "undo/not-undoable.csv",
    "summary.json": "summary.json",
}
CONTENT_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".json": "application/json",
    ".parquet": "application/octet-stream",
    ".tsv": "text/tab-separated-values",
    ".txt": "text/plain",
}


@dataclass(frozen=True)
class RunInfo:
    name: str
    path: Path
    state: str  # draft | unfinished | stopped | finished
    summary: RunSummary | PlanSummary | None
    changed_at: float

    @property
    def outcomes(self) -> dict[str, int]:
        return dict(self.summary.outcomes) if isinstance(self.summary, RunSummary) else {}


def _state(path: Path, summary: RunSummary | PlanSummary | None) -> str:
    if summary is not None:
        if summary.stopped or summary.exit_code == EXIT_STOPPED:
            return "stopped"
        return "finished"
    if (path / JOURNAL_NAME).exists():
        return "unfinished"
    return "draft"


def read_summary(path: Path) -> RunSummary | PlanSummary | None:
    """The summary.json of a run (or a plan) in `path`; None: none, or not readable."""
    try:
        data = json.loads((path / "summary.json").read_text())
        if isinstance(data, dict) and data.get("command") == "plan":
            return read_plan_summary(data)
        return read_run_summary(data)
    except (OSError, ValueError, RunDirError):
        return None


def run_info(path: Path) -> RunInfo | None:
    """A run directory's state, or None when `path` holds no run (nor a draft)."""
    markers = [path / name for name in (JOURNAL_NAME, "summary.json", DRAFT_FILE)]
    times = [m.stat().st_mtime for m in markers if m.exists()]
    if not times:
        return None
    summary = read_summary(path)
    return RunInfo(path.name, path, _state(path, summary), summary, max(times))


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Every run (and draft) directly under `runs_dir`, newest first."""
    if not runs_dir.is_dir():
        return []
    found = [run_info(child) for child in runs_dir.iterdir() if child.is_dir()]
    return sorted((i for i in found if i is not None), key=lambda i: i.changed_at, reverse=True)


def run_path(runs_dir: Path, name: str) -> Path | None:
    """The run directory called `name` directly under `runs_dir`, if there is one."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        return None
    for child in runs_dir.iterdir() if runs_dir.is_dir() else ():
        if child.name == name and child.is_dir() and run_info(child) is not None:
            return child
    return None


def download_path(run_dir: Path, name: str) -> Path | None:
    """A report of `run_dir` by its download name; None when it is not one or does not exist."""
    relative = DOWNLOADS.get(name)
    if relative is None:
        return None
    path = run_dir / relative
    return path if path.is_file() else None


def error_groups(results: pl.DataFrame, *, examples: int = 3) -> list[dict[str, Any]]:
    """Per errorCode: how many rows, the most common message, the first example rows."""
    failing = results.filter(pl.col("errorCode").is_not_null())
    groups = []
    for (code,), group in failing.group_by("errorCode", maintain_order=True):
        message = group["error"].drop_nulls().mode().sort().to_list()
        groups.append(
            {
                "code": code,
                "count": group.height,
                "message": message[0] if message else "",
                "rows": group["row"].head(examples).to_list(),
            }
        )
    return sorted(groups, key=lambda g: -int(g["count"]))


_STAMPED = re.compile(r"^(\d{8}T\d{6}Z)-(.+?)(?:-(\d+))?$")
KINDS = ("undo", "rerun", "validate", "plan", "stale")


def run_label(name: str) -> dict[str, Any]:
    """A run directory's name in words: what it is, of which file, when (UTC, ISO).

    `20261204T153402Z-undo-20261204T152907Z-Bestellungen_Dezember` ->
    {"kind": "undo", "file": "Bestellungen_Dezember", "at": "2026-12-04T15:34:02Z"}
    """
    match = _STAMPED.match(name)
    if match is None:
        return {"kind": "run", "file": name, "at": None}
    stamp, rest = match.group(1), match.group(2)
    at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).isoformat()
    kind = "run"
    for prefix in KINDS:
        if rest.startswith(prefix + "-") or rest == prefix:
            kind, rest = prefix, rest.removeprefix(prefix).lstrip("-")
            break
    inner = _STAMPED.match(rest)
    while inner is not None:  # `undo-<stamp>-<name>`: the run it undoes, by its file
        rest = inner.group(2)
        for prefix in KINDS:
            rest = rest.removeprefix(prefix + "-")
        inner = _STAMPED.match(rest)
    return {"kind": kind, "file": rest or name, "at": at.replace("+00:00", "Z")}


def undo_of(run_dir: Path) -> Path | None:
    """The undo run made of `run_dir` (named `<time>-undo-<its name>` beside it), if any."""
    found = sorted(run_dir.parent.glob(f"*-undo-{run_dir.name}"))
    found = [p for p in found if p.is_dir() and run_info(p) is not None]
    return found[-1] if found else None


def undoable_rows(results: pl.DataFrame | None) -> int:
    """Rows whose change an undo could set back: applied updates and address changes."""
    if results is None or "action" not in results.columns:
        return 0
    applied = results.filter(
        (pl.col("outcome") == "applied") & pl.col("action").is_in(["update", "address"])
    )
    return applied.height
