"""The journal keeps refetched orders compressed, and gives back exactly what the API sent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import polars as pl

from pipeline.core.manifest import Manifest
from pipeline.flows.resume import rebuild_reports
from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxThread
from pipeline.store.codec import OrderCodec
from pipeline.store.journal import MAX_BACKLOG_ORDERS, Journal
from tests.conftest import comment_file, env_for, options_for, state_of


def _manifest() -> Manifest:
    return Manifest(
        kind="run", created_at="2026-01-01T00:00:00Z", inputs=(), row_count=0, options={}
    )


def test_orders_are_stored_compressed_and_read_back_exactly(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    path, ids = comment_file(sandbox, tmp_path, 40, "compact")
    result = run_files(
        [path],
        options=options_for(sandbox, action="update"),
        env=env_for(sandbox),
        out=tmp_path / "r",
    )
    assert result.exit_code == 0, result.summary
    with sqlite3.connect(tmp_path / "r" / "journal.sqlite") as db:
        stored = db.execute("SELECT typeof(body), length(body) FROM orders").fetchall()
    assert len(stored) == 40
    assert {kind for kind, _ in stored} == {"blob"}
    orders = pl.read_parquet(tmp_path / "r" / "orders.parquet")
    text_bytes = sum(len(text.encode()) for text in orders["order"])
    assert sum(size for _, size in stored) < text_bytes / 5  # ~6 KB of JSON -> ~0.5 KB
    for order_id, text in zip(orders["orderId"], orders["order"], strict=True):
        assert json.loads(text) == state_of(sandbox).order(order_id, touch=False)
    assert sorted(orders["orderId"]) == sorted(ids)
    rebuilt = rebuild_reports(tmp_path / "r")
    assert rebuilt.exit_code == 0
    assert pl.read_parquet(tmp_path / "r" / "orders.parquet").equals(orders)


def test_a_journal_with_plain_text_orders_still_reads(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "journal.sqlite", _manifest())
    journal.commit()
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        db.execute("INSERT INTO orders VALUES (7, ?)", ('{"orderId": 7}',))
    journal.order_fetched(8, '{"orderId": 8, "comment": "packed"}')
    journal.commit()
    assert list(journal.orders()) == [
        (7, '{"orderId": 7}'),
        (8, '{"orderId": 8, "comment": "packed"}'),
    ]
    journal.close()
    reopened = Journal.open(tmp_path / "journal.sqlite")
    assert [order_id for order_id, _ in reopened.orders()] == [7, 8]
    reopened.close()


def test_the_codec_round_trips_any_text() -> None:
    codec = OrderCodec(None)
    first = '{"orderId": 1, "comment": "Grüße, 東京"}'
    other = '{"orderId": 2, "comment": ""}'
    assert codec.unpack(codec.pack(first)) == first
    assert codec.unpack(codec.pack(other)) == other
    assert OrderCodec(codec.dictionary).unpack(codec.pack(other)) == other


async def test_a_run_faster_than_its_journal_waits_instead_of_holding_a_backlog(
    tmp_path: Path,
) -> None:
    """Backpressure: orders kept faster than the writer stores them make `keep_up` wait until
    no more than MAX_BACKLOG_ORDERS are unwritten (an unpaced run held ~150 MB of them)."""
    journal = Journal.create(tmp_path / "journal.sqlite", _manifest())
    text = json.dumps({"orderId": 1, "comment": "x" * 5000})
    kept = MAX_BACKLOG_ORDERS * 3
    try:
        for order_id in range(kept):
            journal.order_fetched(order_id, text)
            await journal.keep_up()
            with sqlite3.connect(tmp_path / "journal.sqlite") as db:
                written = db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
            assert order_id + 1 - written <= MAX_BACKLOG_ORDERS
        await journal.durable()
    finally:
        journal.close()
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == kept
