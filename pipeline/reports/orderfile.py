"""orders.parquet and before.parquet, written a chunk at a time from the journal
(docs/reference/outputs.md).

A run's orders are ~6 KB of JSON each: 100,000 of them as one frame would take
over a gigabyte. They are read from the journal one at a time, written in
chunks of `CHUNK_ROWS` to part files, and joined into one file by polars'
streaming engine (`sink_parquet`), so memory stays flat in the number of rows.
Only the key columns, which the results report joins, are returned.

    keys = write_order_parquet(journal.orders(), run_dir / "orders.parquet")
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.core.errors import OutputError
from pipeline.store.journal import Journal

ORDER_KEYS = ("orderStatus", "cancelRequestedAt", "lastModified")

CHUNK_ROWS = 500  # smaller parts: the streaming sink reads several at once
ROW_GROUP_ROWS = 500


def order_frame(orders: Iterable[tuple[int, str]]) -> pl.DataFrame:
    """Refetched orders: key fields as columns plus the whole order as JSON text."""
    records: dict[str, list[Any]] = {
        "orderId": [],
        "orderStatus": [],
        "cancelRequestedAt": [],
        "lastModified": [],
        "comment": [],
        "trackingEnabled": [],
        "deliveryCity": [],
        "deliveryCountry": [],
        "order": [],
    }
    for order_id, body in orders:
        order = json.loads(body)
        delivery = order.get("deliveryAddress") or {}
        records["orderId"].append(order_id)
        for key in ("orderStatus", "cancelRequestedAt", "lastModified", "comment"):
            value = order.get(key)
            records[key].append(None if value is None else str(value))
        tracking = order.get("trackingEnabled")
        records["trackingEnabled"].append(tracking if isinstance(tracking, bool) else None)
        records["deliveryCity"].append(delivery.get("city"))
        records["deliveryCountry"].append(delivery.get("country"))
        records["order"].append(body)
    schema = dict.fromkeys(records, pl.String) | {
        "orderId": pl.Int64,
        "trackingEnabled": pl.Boolean,
    }
    return pl.DataFrame(records, schema=schema)


def write_order_parquet(
    orders: Iterable[tuple[int, str]], path: Path, *, chunk_rows: int = CHUNK_ROWS
) -> pl.DataFrame:
    """Write (order_id, JSON text) pairs to `path`; return orderId and the key columns."""
    rows = iter(orders)
    keys: list[pl.DataFrame] = []
    parts = Path(tempfile.mkdtemp(prefix=".orders-", dir=path.parent))
    try:
        while chunk := list(islice(rows, chunk_rows)):
            frame = order_frame(chunk)
            keys.append(frame.select("orderId", *ORDER_KEYS))
            frame.write_parquet(parts / f"{len(keys):06d}.parquet")
            del frame, chunk
        if keys:
            # Small row groups: the streaming sink buffers a row group before writing it.
            pl.scan_parquet(sorted(parts.glob("*.parquet"))).sink_parquet(
                path, row_group_size=ROW_GROUP_ROWS, engine="streaming"
            )
        else:
            order_frame([]).write_parquet(path)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    if not keys:
        return order_frame([]).select("orderId", *ORDER_KEYS)
    return pl.concat(keys)


def write_before_images(run_dir: Path, journal: Journal) -> None:
    """before.parquet: every before-image, key columns plus the whole order as JSON."""
    try:
        write_order_parquet(journal.before_images(), run_dir / "before.parquet")
    except OSError as error:
        raise OutputError(f"cannot write {run_dir / 'before.parquet'}: {error.strerror}") from None
