"""Which inbox files a sweep may take: complete files only (docs/guide/nightly.md).

A file is read when its turn comes, not when the inbox is listed, and taken only if
it is complete at that moment: unchanged for `settle_s`, the same (size, modification
time, inode) before and after it is read, not cut off (a text file's last line ends
with a line end; a workbook's zip directory and a Parquet file's footer are there),
and, with a ready marker, announced by `<file><marker>`. Names that copying tools use
while they write are never taken.

    paths = candidates(job.input_paths(), ready_marker=".done")
    taken = read_complete(path, settle_s=30, now=time.time)
    taken.data  # the bytes to run, or None: taken.waiting says why it is held
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# Names under which browsers, rsync, office programs and scripts write a file before
# renaming it (and dot files: hidden, often a partial copy).
WRITING_NAMES = ("*.tmp", "*.part", "*.partial", "*.crdownload", "~$*", ".*")
TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
ZIP_END = b"PK\x05\x06"  # a zip file (.xlsx) ends with its central directory's end record
ZIP_END_SPAN = 65_557  # the record (22 bytes) plus the longest zip comment
PARQUET_END = b"PAR1"
CHANGED_WHILE_READ = "changed while it was read; taken once it stays unchanged"


def is_writing_name(name: str) -> bool:
    """True for a name a copying tool uses while it writes (`report.csv.part`, `~$x.xlsx`)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in WRITING_NAMES)


def candidates(paths: Iterable[Path], *, ready_marker: str | None) -> list[Path]:
    """The listed paths a sweep considers: no names of files being written, no markers."""
    return [
        path
        for path in paths
        if not is_writing_name(path.name)
        and not (ready_marker and path.name.endswith(ready_marker))
    ]


def marker_of(path: Path, ready_marker: str) -> Path:
    return path.with_name(path.name + ready_marker)


@dataclass(frozen=True)
class Complete:
    """A file read whole (`data`), or held (`data` None) with the reason in `waiting`."""

    data: bytes | None
    waiting: str = ""
    identity: tuple[int, int, int] | None = None  # (size, mtime in ns, inode) when read


def identity_of(path: Path) -> tuple[int, int, int] | None:
    """(size, modification time in ns, inode) of `path`, None if it is gone."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_size, found.st_mtime_ns, found.st_ino


def read_complete(
    path: Path,
    *,
    settle_s: float,
    now: Callable[[], float],
    allow_unterminated: bool = False,
    ready_marker: str | None = None,
) -> Complete:
    """Read `path` if it is complete now; else say why it is held for a later sweep."""
    if ready_marker and not marker_of(path, ready_marker).exists():
        return Complete(None, f"waiting for its ready marker {marker_of(path, ready_marker).name}")
    before = path.stat()
    age_s = now() - before.st_mtime
    if age_s < settle_s:
        return Complete(None, f"changed {age_s:.0f} s ago; taken once unchanged for {settle_s:g} s")
    data = path.read_bytes()
    identity = (before.st_size, before.st_mtime_ns, before.st_ino)
    if identity != identity_of(path) or len(data) != before.st_size:
        return Complete(None, CHANGED_WHILE_READ)
    unfinished = cut_off(path.suffix.lower(), data, allow_unterminated=allow_unterminated)
    return Complete(None, unfinished) if unfinished else Complete(data, identity=identity)


def cut_off(suffix: str, data: bytes, *, allow_unterminated: bool = False) -> str | None:
    """Why `data` looks like a file whose writing has not finished, or None."""
    if not data:
        return "empty: held as a file still being written"
    # UTF-16 puts a NUL beside each line end; strip trailing NULs first.
    ended = data.rstrip(b"\x00").endswith((b"\n", b"\r"))
    if suffix in TEXT_SUFFIXES and not allow_unterminated and not ended:
        return (
            "its last line has no line end: held as a file still being written; if"
            " the file is complete as it is, set allow_unterminated_last_line = true"
            " in the job"
        )
    if suffix == ".xlsx" and data.rfind(ZIP_END, -ZIP_END_SPAN) < 0:
        return "not a whole workbook yet (its zip directory is missing): held as unfinished"
    if suffix == ".parquet" and not data.endswith(PARQUET_END):
        return "not a whole Parquet file yet (no footer): held as unfinished"
    return None
