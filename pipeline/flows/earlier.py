"""What a sweep says about a file's earlier runs: how far a killed run had got, how many
rows a changed file shares with the version that ran, and when a refused file is taken
again (docs/guide/nightly.md).

    run_progress(run_dir)   # (rows with an outcome, rows), from its journal
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from pipeline.config.jobfile import JobFile
from pipeline.core.errors import InputFileError
from pipeline.inputs.read import ReadOptions, read_file
from pipeline.store.journal import JOURNAL_NAME
from pipeline.store.sweeps import Record


def retry_rule(refusal: str) -> str:
    if refusal == "guard":
        return "a later sweep takes it again once the job's limit allows it, or when it is put back"
    return "a later sweep takes it again when its content changes, or when it is put back"


def still_refused(record: Record) -> str:
    reason = (record.reason or "").split("; nothing was sent")[0]
    return f"refused on {record.when}: {reason}; {retry_rule(record.refusal or 'content')}"


def has_journal(record: Record) -> bool:
    return record.run_dir is not None and (Path(record.run_dir) / JOURNAL_NAME).exists()


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_progress(run_dir: Path) -> tuple[int, int]:
    """(rows with a final outcome, rows) of a run, read from its journal without a lock."""
    try:
        connection = sqlite3.connect(f"file:{run_dir / JOURNAL_NAME}?mode=ro", uri=True)
        try:
            body = connection.execute("SELECT body FROM manifest WHERE id = 1").fetchone()
            query = "SELECT COUNT(*) FROM results WHERE error_code IS NOT 'aborted'"
            done = int(connection.execute(query).fetchone()[0])
        finally:
            connection.close()
        return done, int(json.loads(body[0])["row_count"]) if body else 0
    except (sqlite3.Error, ValueError, KeyError):
        return 0, 0


def rows_in_common(new: Path, old: Path, job: JobFile) -> tuple[int, int] | None:
    """(rows of `new` that `old` holds too, rows of `new`), comparing whole rows by the
    columns both have; None when either cannot be read."""
    options = ReadOptions(mapping=job.columns, sheet=job.sheet, header_row=job.header_row)
    try:
        new_source, new_frame, _ = read_file(new, name=new.name, options=options)
        old_source, old_frame, _ = read_file(old, name=old.name, options=options)
    except (InputFileError, OSError):
        return None
    shared = [h for h in new_source.headers if h in old_source.headers]
    if not shared:
        return 0, new_frame.height
    before = set(old_frame.select(shared).iter_rows())
    common = sum(1 for row in new_frame.select(shared).iter_rows() if row in before)
    return common, new_frame.height
