"""The run journal: SQLite in the run directory, the source of truth for reports
(docs/durability.md).

It holds the manifest (`Manifest`: inputs with sha256, options; never a secret), every
request before it is sent and its answer when it arrives, every refetched
order, and each row's final outcome. Writes are buffered and committed as a
group: `await journal.durable()` returns once everything written so far is
committed, and all workers waiting in the same loop turn share that commit.

    journal = Journal.create(run_dir / "journal.sqlite", manifest)
    journal.finish_rows([RowResult(index=0, outcome=Outcome.APPLIED)])
    await journal.durable()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.core.errors import OutputError, RunDirError
from pipeline.core.manifest import Manifest, read_manifest
from pipeline.core.outcomes import NOT_SENT, ErrorCode, Outcome
from pipeline.store.codec import OrderCodec
from pipeline.store.schema import RESULT_COLUMNS, SCHEMA, RowResult, add_missing_columns

JOURNAL_NAME = "journal.sqlite"

# Writes nobody waits for are committed in groups this often: every commit costs a hand-off
# to the writer thread and a wake-up of the event loop.
COMMIT_EVERY_S = 0.05
# Orders (~6 KB each) kept, not yet written: past this a run waits for the writer (`keep_up`).
MAX_BACKLOG_ORDERS = 500
INSERT_RESULT = f"INSERT OR REPLACE INTO results VALUES ({', '.join('?' * len(RESULT_COLUMNS))})"


class Journal:
    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._db.execute("BEGIN")
        self._results: list[tuple[Any, ...]] = []
        self._sent: list[tuple[Any, ...]] = []
        self._answers: list[tuple[Any, ...]] = []
        self._orders: list[tuple[int, str]] = []
        row = self._db.execute("SELECT zdict FROM codec WHERE id = 1").fetchone()
        self._codec = OrderCodec(row[0] if row else None)
        self._befores: list[tuple[int, str]] = []
        self._rates: list[tuple[Any, ...]] = []  # the rate controller's latest state
        self._commit_due: asyncio.Future[None] | None = None
        self._backlog = 0  # orders kept and not yet written
        self._room: asyncio.Future[None] | None = None  # set when the backlog shrinks
        self._timer: asyncio.Handle | None = None
        # One thread owns every write, so commits keep their order and never block the loop.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()
        self._next_request_id = int(row[0]) + 1
        self.session = 0
        # Set when a write fails (disk full); `on_failure` (the run's stop) is called once.
        self.failure: str | None = None
        self.on_failure: Callable[[str], None] | None = None

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    @classmethod
    def create(cls, path: Path, manifest: Manifest) -> Journal:
        try:
            connection = cls._connect(path)
            connection.executescript(SCHEMA)
            connection.execute("INSERT INTO manifest VALUES (1, ?)", (manifest.dump(),))
        except sqlite3.Error as error:
            raise OutputError(f"cannot create the journal {path}: {error}") from None
        return cls(path, connection)

    @classmethod
    def open(cls, path: Path) -> Journal:
        if not path.exists():
            raise RunDirError(
                f"{path.parent}: no journal ({JOURNAL_NAME}); is this a run directory?"
            )
        try:
            connection = cls._connect(path)
            connection.execute("SELECT body FROM manifest").fetchone()
            connection.executescript(SCHEMA)  # a journal from before a table was added
            add_missing_columns(connection)
        except sqlite3.Error as error:
            raise RunDirError(
                f"{path}: the journal cannot be read ({error}); the run cannot be resumed"
            ) from None
        return cls(path, connection)

    @property
    def manifest(self) -> Manifest:
        """The run's manifest, brought up to date if an older quivo-bulk wrote it."""
        body = self._db.execute("SELECT body FROM manifest WHERE id = 1").fetchone()
        if body is None:
            raise RunDirError(f"{self.path}: the journal has no manifest")
        try:
            return read_manifest(json.loads(body[0]))
        except RunDirError as error:
            raise RunDirError(f"{self.path}: {error}") from None
        except ValueError:
            raise RunDirError(f"{self.path}: the manifest is not JSON") from None

    def set_manifest(self, manifest: Manifest) -> None:
        """Replace the manifest (what a run learned before sending, e.g. resolved keys)."""
        update = "UPDATE manifest SET body = ? WHERE id = 1"
        self._writer.submit(self._db.execute, update, (manifest.dump(),)).result()
        self.commit()

    def begin_session(self, command: str) -> None:
        cursor = self._db.execute(
            "INSERT INTO sessions (command, started_at) VALUES (?, ?)", (command, time.time())
        )
        self.session = int(cursor.lastrowid or 0)
        self.commit()

    def end_session(self, stopped: str | None) -> None:
        self.commit()
        self._db.execute(
            "UPDATE sessions SET finished_at = ?, stopped = ? WHERE id = ?",
            (time.time(), stopped, self.session),
        )
        self.commit()

    # --- writing (buffered) ----------------------------------------------------------------

    def sending(
        self, *, order_id: int | None, method: str, path: str, attempt: int, row: int | None
    ) -> int:
        request_id = self._next_request_id
        self._next_request_id += 1
        self._sent.append(
            (request_id, self.session, order_id, row, method, path, attempt, time.time())
        )
        self._schedule()
        return request_id

    def answered(
        self, request_id: int, *, status: int | None, error: str | None, latency_ms: float
    ) -> None:
        self._answers.append((status, error, latency_ms, request_id))

    def order_fetched(self, order_id: int, body: str) -> None:
        """Keep a refetched order: the JSON text as the API sent it (stored compressed)."""
        self._orders.append((order_id, body))
        self._backlog += 1

    def rate_used(
        self, *, auto: bool, final_per_s: float, found_per_s: float | None, settled_per_s: float
    ) -> None:
        """Keep the session's rate controller state: at every change of rate and at the end
        (the summary, the job's next start, and where `resume` continues, even after kill -9)."""
        self._rates = [(self.session, int(auto), final_per_s, found_per_s, settled_per_s)]
        self._schedule()

    def before_fetched(self, order_id: int, body: str) -> None:
        """Keep an order's before-image: read before its first change (docs/plan-apply-undo.md).

        Stored the same way as refetched orders. The first image of an order is
        kept: a resumed run reads the order again, after some of its changes.
        """
        self._befores.append((order_id, body))
        self._backlog += 1

    def finish_rows(self, results: Iterable[RowResult]) -> None:
        """Keep rows' outcomes, stamped with the time they were decided (now)."""
        now = time.time()
        self._results.extend(result.as_row(now) for result in results)
        self._schedule()

    def _schedule(self, *, now: bool = False) -> None:
        """Commit what is buffered within COMMIT_EVERY_S, or at once when `now`."""
        if self._commit_due is not None and not now:
            return  # the commit already due takes this write too (most calls end here)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # outside the event loop: committed by the next commit() call
        if self._commit_due is None:
            self._commit_due = loop.create_future()
            self._timer = loop.call_later(0 if now else COMMIT_EVERY_S, self._start_commit, loop)
        elif now and self._timer is not None and not self._timer.cancelled():
            self._timer.cancel()
            self._timer = loop.call_soon(self._start_commit, loop)

    def _start_commit(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand the buffered writes to the writer thread: the loop never waits on SQLite
        (a WAL checkpoint's fsync can take tens of milliseconds and would delay sends)."""
        due, self._commit_due, self._timer = self._commit_due, None, None
        batch = self._take_batch()
        done = loop.run_in_executor(self._writer, self._write, batch)

        def settle(finished: asyncio.Future[None]) -> None:
            self._backlog -= len(batch[2]) + len(batch[4])
            if (room := self._room) is not None and self._backlog <= MAX_BACKLOG_ORDERS:
                self._room = None
                room.set_result(None)
            error = finished.exception()
            if error is not None:
                self._failed(str(error))
            if due is None or due.done():
                return
            if error is not None:
                due.set_exception(error)
                # Marked as seen: the run learns of the failure through `on_failure` (one
                # clear line); a commit nobody waited for must not be logged by asyncio
                # as "Future exception was never retrieved", with its traceback. Those
                # who wait (`durable`) still get the error.
                due.exception()
            else:
                due.set_result(None)

        done.add_done_callback(settle)

    async def keep_up(self) -> None:
        """Wait while more than MAX_BACKLOG_ORDERS orders wait for the writer (backpressure)."""
        while self._backlog > MAX_BACKLOG_ORDERS:
            self._schedule(now=True)
            self._room = self._room or asyncio.get_running_loop().create_future()
            await asyncio.shield(self._room)

    async def durable(self) -> None:
        """Return once everything written so far is committed (a shared group commit)."""
        self._schedule(now=True)
        if self._commit_due is not None:
            await asyncio.shield(self._commit_due)

    def _take_batch(self) -> tuple[list[tuple[Any, ...]], ...]:
        batch = (self._sent, self._answers, self._orders, self._results, self._befores, self._rates)
        self._sent, self._answers, self._orders, self._results = [], [], [], []
        self._befores, self._rates = [], []
        return batch

    def _write(self, batch: tuple[list[tuple[Any, ...]], ...]) -> None:
        """Write one batch and commit (on the writer thread, one batch at a time)."""
        sent, answers, orders, results, befores, rates = batch
        db = self._db
        try:
            if sent:
                db.executemany("INSERT INTO requests VALUES (?,?,?,?,?,?,?,?,NULL,NULL,NULL)", sent)
            if answers:
                db.executemany(
                    "UPDATE requests SET status = ?, error = ?, latency_ms = ? WHERE id = ?",
                    answers,
                )
            if orders:
                db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?)", self._pack(orders))
            if results:
                db.executemany(INSERT_RESULT, results)
            if befores:
                db.executemany(
                    "INSERT OR IGNORE INTO before_images VALUES (?, ?)", self._pack(befores)
                )
            if rates:
                db.executemany("INSERT OR REPLACE INTO rates VALUES (?, ?, ?, ?, ?)", rates)
            db.execute("COMMIT")
            db.execute("BEGIN")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")  # a failed COMMIT may leave no transaction open
            with contextlib.suppress(sqlite3.Error):
                db.execute("BEGIN")
            raise OutputError(
                f"cannot write the journal {self.path} ({error}); no further request is sent."
                f" Free space, then finish the run: quivo-bulk resume {self.path.parent}"
            ) from None

    def _failed(self, message: str) -> None:
        """The journal cannot be written: tell the run (once), which stops sending."""
        if self.failure is None:
            self.failure = message
            if self.on_failure is not None:
                self.on_failure(message)

    def _pack(self, orders: list[tuple[Any, ...]]) -> list[tuple[int, bytes]]:
        """Orders as stored (on the writer thread): the first ones stored are the dictionary."""
        if self._codec.dictionary is None:
            zdict = self._codec.choose_dictionary([text for _, text in orders])
            self._db.execute("INSERT OR REPLACE INTO codec VALUES (1, ?)", (zdict,))
        return [(order_id, self._codec.pack(text)) for order_id, text in orders]

    def commit(self) -> None:
        """Write and commit everything buffered, now (outside the event loop)."""
        batch = self._take_batch()
        self._backlog -= len(batch[2]) + len(batch[4])
        self._writer.submit(self._write, batch).result()

    def close(self) -> None:
        try:
            self.commit()
            self._writer.submit(self._db.execute, "COMMIT").result()
        finally:
            self._writer.submit(self._db.close).result()
            self._writer.shutdown()

    # --- reading ----------------------------------------------------------------------------

    def finished_indexes(self) -> set[int]:
        """Rows with a final outcome. Rows a stop cut off (`aborted`: not attempted, or in
        flight when the run stopped) are not final: `resume` sends them again."""
        query = "SELECT idx FROM results WHERE error_code IS NOT 'aborted'"
        return {row[0] for row in self._db.execute(query)}

    def last_session_ended(self) -> bool:
        """True when the newest session reached its end without being stopped."""
        row = self._db.execute(
            "SELECT finished_at, stopped FROM sessions ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return row is not None and row[0] is not None and row[1] is None

    def results(self) -> Iterator[RowResult]:
        query = (
            f"SELECT {', '.join(c if c != 'index' else 'idx' for c in RESULT_COLUMNS)} FROM results"
        )
        for row in self._db.execute(query + " ORDER BY idx"):
            values = dict(zip(RESULT_COLUMNS, row, strict=True))
            values["outcome"] = Outcome(values["outcome"])
            if values["error_code"] is not None:
                values["error_code"] = ErrorCode(values["error_code"])
            yield RowResult(**values)

    def attempts_by_row(self) -> dict[int, int]:
        """Requests already sent per row that may have changed the order (for `resume` and
        a stopped run): a request refused as unauthorized or forbidden changed nothing."""
        query = (
            "SELECT row_idx, COUNT(*) FROM requests WHERE row_idx IS NOT NULL"
            " AND (status IS NULL OR status NOT IN (401, 403))"
            " AND (error IS NULL OR error != ?) GROUP BY row_idx"
        )
        return dict(self._db.execute(query, (NOT_SENT,)).fetchall())

    def orders(self) -> Iterator[tuple[int, str]]:
        """Every stored order as (order_id, JSON text), one at a time, by order ID."""
        query = "SELECT order_id, body FROM orders ORDER BY order_id"
        for order_id, body in self._db.execute(query):
            yield order_id, self._codec.unpack(body)

    def rates(self) -> dict[str, Any] | None:
        """The rate controller's result of the last session that sent (None: unpaced)."""
        row = self._db.execute(
            "SELECT auto, final_per_s, found_per_s, settled_per_s FROM rates"
            " ORDER BY session DESC LIMIT 1"
        ).fetchone()
        keys = ("auto", "final_per_s", "found_per_s", "settled_per_s")
        return None if row is None else dict(zip(keys, row, strict=True)) | {"auto": bool(row[0])}

    def before_image(self, order_id: int) -> str | None:
        """One order's before-image as JSON text, or None."""
        query = "SELECT body FROM before_images WHERE order_id = ?"
        row = self._db.execute(query, (order_id,)).fetchone()
        return None if row is None else self._codec.unpack(row[0])

    def before_image_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM before_images").fetchone()[0])

    def before_images(self) -> Iterator[tuple[int, str]]:
        """Every order's before-image: (order ID, the order as JSON text)."""
        query = "SELECT order_id, body FROM before_images ORDER BY order_id"
        for order_id, body in self._db.execute(query):
            yield order_id, self._codec.unpack(body)

    def sent_requests(self) -> Iterator[tuple[int, int | None, int | None, str, str]]:
        """(session, order_id, row_idx, method, path) of every request, in the order sent."""
        query = "SELECT session, order_id, row_idx, method, path FROM sent_requests ORDER BY id"
        yield from self._db.execute(query)

    def request_counts(self, *, login_path: str) -> dict[str, float]:
        """Requests, retries, 429s and logins (requests to `login_path`) of every session;
        `first_sent_at`: when the first was journaled (lookups come before the session)."""
        row = self._db.execute(
            "SELECT COUNT(*), SUM(attempt > 1), SUM(status = 429), SUM(path = ?), MIN(sent_at)"
            " FROM sent_requests",
            (login_path,),
        ).fetchone()
        keys = ("requests", "retries", "rate_limited", "logins", "first_sent_at")
        return {key: value or 0 for key, value in zip(keys, row, strict=True)}

    def sessions(self) -> list[dict[str, Any]]:
        query = "SELECT id, command, started_at, finished_at, stopped FROM sessions ORDER BY id"
        keys = ("id", "command", "started_at", "finished_at", "stopped")
        return [dict(zip(keys, row, strict=True)) for row in self._db.execute(query)]
