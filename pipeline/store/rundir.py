"""Run directories: made fresh and owner-only, locked while a process works in them
(docs/reference/outputs.md, docs/durability.md).

    check_fresh(out)                  # refuse an --out that already holds something
    make_run_dir(out)                 # create it 0700; a failure is a message, not a traceback
    with run_lock(out): ...           # one process per run directory; the second gets RunDirError
    seal(out)                         # every file inside 0600 (they hold names and addresses)

A run directory holds personal data, so it is readable by its owner only.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from pipeline.core.errors import RunDirError, UsageError
from pipeline.core.manifest import read_summary
from pipeline.core.outcomes import EXIT_FINISHED
from pipeline.store.oslock import try_lock, unlock

DIR_MODE = 0o700
FILE_MODE = 0o600
LOCK_NAME = ".lock"


# What a run writes: a folder holding any of these already holds a run's results.
RUN_FILES = frozenset(
    {"journal.sqlite", "results.parquet", "results.csv", "errors.csv", "errors.xlsx",
     "orders.parquet", "summary.json"}
)  # fmt: skip


def check_fresh(run_dir: Path, *, prepared: bool = False) -> None:
    """Refuse a run directory that exists and is not empty (nothing is written first).

    `prepared`: the caller made the folder for this run and put its inputs there
    (the browser UI's drafts); it is refused only when it already holds a run.
    """
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir} is a file, not a folder; choose another --out")
    entries = {entry.name for entry in run_dir.iterdir()}
    if entries & RUN_FILES if prepared else entries:
        hint = ""
        if (run_dir / "journal.sqlite").exists():
            hint = (
                f"; it holds a finished run ('quivo-bulk report {run_dir}' shows it)"
                if _ended(run_dir)
                else f"; finish that run with 'quivo-bulk resume {run_dir}'"
            )
        raise RunDirError(
            f"{run_dir} is not empty; refusing to overwrite what is there{hint}."
            " Choose an --out that does not exist yet (or an empty folder)"
        )


def _ended(run_dir: Path) -> bool:
    """The run's summary says it reached its end (exit 0 or 1; a stopped run's says 3)."""
    try:
        summary = read_summary(json.loads((run_dir / "summary.json").read_text()))
    except (OSError, ValueError, RunDirError):
        return False
    return summary.exit_code in EXIT_FINISHED


def make_run_dir(run_dir: Path) -> None:
    """Create `run_dir` (and its parents) owner-only; refuse one that cannot be written."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        run_dir.chmod(DIR_MODE)
    except OSError as error:
        raise RunDirError(
            f"cannot create the run directory {run_dir}: {error.strerror};"
            " choose an --out you can write to"
        ) from None
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise RunDirError(
            f"cannot write in the run directory {run_dir}: permission denied;"
            " choose an --out you can write to"
        )


def remove_unstarted(run_dir: Path) -> None:
    """Take away a run directory this process made for a run that could not start."""
    shutil.rmtree(run_dir, ignore_errors=True)


def seal(run_dir: Path) -> None:
    """Make every file in `run_dir` owner-only (0600) and the folders 0700."""
    with contextlib.suppress(OSError):
        run_dir.chmod(DIR_MODE)
        for path in run_dir.rglob("*"):
            path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)


@contextlib.contextmanager
def exclusive(path: Path, *, busy: str, error: type[UsageError] = RunDirError) -> Iterator[None]:
    """Hold an exclusive lock on `path`; raise at once if another process has it.

    `busy` is the message when it is taken ("{holder}" names the holder's pid).
    The lock goes with the process (flock on POSIX, msvcrt.locking on Windows): a
    killed holder never leaves a stale lock (see `pipeline.store.oslock`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    with os.fdopen(fd, "r+") as handle:
        if not try_lock(handle, path):
            handle.seek(0)
            try:
                holder = handle.read().strip() or "another process"
            except OSError:  # Windows: a locked region cannot be read
                holder = "another process"
            raise error(busy.format(holder=holder))
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            unlock(handle, path)


def run_lock(run_dir: Path) -> contextlib.AbstractContextManager[None]:
    """One process at a time works in a run directory (run, resume, report --rebuild)."""
    return exclusive(
        run_dir / LOCK_NAME,
        busy=f"{run_dir} is in use by another quivo-bulk ({{holder}}); this one sends nothing."
        " Wait for it to end, then try again",
    )


def is_run_dir(path: Path) -> bool:
    """A folder a run (or a plan) wrote: it has a journal or a results file."""
    return path.is_dir() and any(
        (path / name).exists() for name in ("journal.sqlite", "results.parquet", "plan.json")
    )


def expand_run_dirs(run_dirs: Sequence[Path | str]) -> list[Path]:
    """Run directories, globs expanded (sorted: names start with their UTC time)."""
    found: list[Path] = []
    for given in run_dirs:
        text = str(given)
        if not glob.has_magic(text):
            found.append(Path(text))
            continue
        # A glob takes run directories only: a folder of demo runs or a job's state
        # folder beside the runs (`runs/*`) is not one.
        found.extend(Path(m) for m in sorted(glob.glob(text)) if is_run_dir(Path(m)))
    unique = list(dict.fromkeys(found))
    if not unique:
        raise RunDirError(f"no run directory matches {', '.join(map(str, run_dirs))}")
    return unique
