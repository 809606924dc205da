"""What the run journal records: its SQLite schema and a row's final outcome (docs/durability.md).

`pipeline.store.journal` writes and reads these; reports, resume and the UI read
`RowResult`s back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from typing import Any

from pipeline.core.outcomes import NOT_SENT, ErrorCode, Outcome

# Orders and before-images are stored packed by OrderCodec (zlib with the `codec`
# table's dictionary); a body written as text by an older version still reads.
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS manifest (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    idx INTEGER PRIMARY KEY, outcome TEXT NOT NULL, order_id INTEGER, action TEXT,
    error_code TEXT, error TEXT, http_status INTEGER, attempts INTEGER NOT NULL,
    latency_ms REAL, decided_at REAL
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY, session INTEGER NOT NULL, order_id INTEGER, row_idx INTEGER,
    method TEXT NOT NULL, path TEXT NOT NULL, attempt INTEGER NOT NULL, sent_at REAL NOT NULL,
    status INTEGER, error TEXT, latency_ms REAL
);
CREATE INDEX IF NOT EXISTS requests_by_row ON requests (row_idx);
CREATE TABLE IF NOT EXISTS orders (order_id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS before_images (order_id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, command TEXT NOT NULL, started_at REAL NOT NULL,
    finished_at REAL, stopped TEXT
);
-- The requests that went out: not those journaled and then never sent because the run
-- stopped while they waited for the pacer (pipeline.core.outcomes.NOT_SENT). Counts read this.
CREATE VIEW IF NOT EXISTS sent_requests AS SELECT * FROM requests
    WHERE error IS NULL OR error != '{NOT_SENT}';
CREATE TABLE IF NOT EXISTS codec (id INTEGER PRIMARY KEY CHECK (id = 1), zdict BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rates (
    session INTEGER PRIMARY KEY, auto INTEGER NOT NULL, final_per_s REAL,
    found_per_s REAL, settled_per_s REAL
);
"""


@dataclass(frozen=True, slots=True)
class RowResult:
    """The final outcome of one input row."""

    index: int
    outcome: Outcome
    order_id: int | None = None
    action: str | None = None
    error_code: ErrorCode | None = None
    error: str | None = None
    http_status: int | None = None
    attempts: int = 0
    latency_ms: float | None = None
    # When the row got this outcome (Unix time, UTC): stamped by the journal as it is
    # written, so a row finished by a later `resume` carries that session's time.
    decided_at: float | None = None

    def as_row(self, decided_at: float | None = None) -> tuple[Any, ...]:
        """The journal's row (dataclasses.astuple deep-copies; this does not); `decided_at`
        stands in for a row that has no time yet."""
        return (
            self.index,
            self.outcome.value,
            self.order_id,
            self.action,
            self.error_code.value if self.error_code is not None else None,
            self.error,
            self.http_status,
            self.attempts,
            self.latency_ms,
            self.decided_at if self.decided_at is not None else decided_at,
        )


RESULT_COLUMNS = tuple(f.name for f in fields(RowResult))


def add_missing_columns(connection: sqlite3.Connection) -> None:
    """Columns added since a journal was written: `results.decided_at` (rows of an older
    run have none: their `decidedAt` stays empty)."""
    have = {row[1] for row in connection.execute("PRAGMA table_info(results)")}
    if "decided_at" not in have:
        connection.execute("ALTER TABLE results ADD COLUMN decided_at REAL")
