"""Orders' status and `lastModified` in batches, and whether an order moved since it was read.

`GET /orders` answers up to ~50 orders in one request (an OR query on orderId):
its summaries carry `orderStatus`, `lastModified` and `cancelRequestedAt`, not
the street or the comment. That is enough to tell

- a cancel-only order's status (plan, and an apply's precondition of a cancel);
- that an order was not modified since a full read of it (its before-image):
  the same `lastModified` and status (the order schema documents `lastModified`
  as the time of the last modification). Such an order is sent on its
  before-image without a read; an order whose `lastModified` moved is read in
  full and compared field by field, as before.

`lastModified` has whole seconds, so an image read within the same second as a
modification could miss a second one in that second: an image is trusted only
when its `lastModified` is at least `CLOCK_MARGIN_S` + 1 s older than the
earliest moment it can have been read (the margin also covers a server clock
behind ours). Searches are journaled with `SEARCH_ORDER_ID` as their order, so
`requests_by_kind` counts them as `search`, apart from key lookups.

    found, unanswered = await search_orders(client, [4100001, 4100002])
    found[4100001]["lastModified"]
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.api.client import QuivoClient
from pipeline.core.executor import run_on_each
from pipeline.core.manifest import Manifest
from pipeline.store.codec import OrderCodec

log = logging.getLogger(__name__)

SEARCH_ORDER_ID = 0  # no order has ID 0: the journal's mark of a status search
PAGE_SIZE = 1000
CLOCK_MARGIN_S = 60.0
SUMMARY_KEYS = ("orderId", "orderStatus", "lastModified", "cancelRequestedAt")


def id_batches(order_ids: Iterable[int], *, size: int) -> list[list[int]]:
    """Distinct order IDs, `size` a batch."""
    distinct = list(dict.fromkeys(order_ids))
    return [distinct[start : start + size] for start in range(0, len(distinct), size)]


async def search_batch(client: QuivoClient, order_ids: Sequence[int]) -> list[Any] | None:
    """The summaries `GET /orders` answers for `order_ids` (one request, retried as any);
    None when it did not answer with a list."""
    profile = client.profile
    query = " OR ".join(f"orderId:{order_id}" for order_id in order_ids)
    request = profile.search_request(query, page_size=PAGE_SIZE)
    params = dict(request.params or {}) | {"sort": "orderId:asc"}
    answer = await client.call(
        request.method, request.path, params=params, order_id=SEARCH_ORDER_ID
    )
    if not answer.ok or not isinstance(answer.body, list):
        return None
    return answer.body


async def search_orders(
    client: QuivoClient, order_ids: Iterable[int], *, concurrency: int = 4
) -> tuple[dict[int, dict[str, Any]], set[int]]:
    """Summaries of `order_ids` by order ID, in batches of the profile's `key_search_batch`;
    and the IDs whose batch got no usable answer (an ID absent from both was not found)."""
    found: dict[int, dict[str, Any]] = {}
    answered: set[int] = set()

    async def one(batch: list[int]) -> None:
        summaries = await search_batch(client, batch)
        if summaries is None:
            return
        answered.update(batch)
        wanted = set(batch)
        for summary in summaries:
            if isinstance(summary, dict) and summary.get("orderId") in wanted:
                # Only what is used (a key the API left out stays out).
                kept = {k: summary[k] for k in SUMMARY_KEYS if k in summary}
                found[int(summary["orderId"])] = kept

    batches = id_batches(order_ids, size=client.profile.key_search_batch)
    await run_on_each(batches, one, max_at_once=concurrency, stop=client.stop)
    unanswered = {i for batch in batches for i in batch if i not in answered}
    return found, unanswered


class SummariesAhead:
    """Search summaries fetched a batch at a time, just ahead of sending.

    The batch holding an order is searched when the first of its orders is reached (the
    others of the batch wait for that one search), so a summary is never older than the
    sending of about one batch: at 5 requests a second and two requests an order, 50
    orders take 20 s. A search that fails leaves its orders without a summary: they are
    read in full.

        ahead = SummariesAhead(client, order_ids)
        summary = await ahead.summary(4100001)   # None: not searched, or not found
    """

    def __init__(self, client: QuivoClient, order_ids: Iterable[int]) -> None:
        self._client = client
        self._batches = id_batches(order_ids, size=client.profile.key_search_batch)
        self._batch_of = {o: n for n, batch in enumerate(self._batches) for o in batch}
        self._locks: dict[int, asyncio.Lock] = {}
        self._found: dict[int, dict[str, Any]] = {}
        self._searched: set[int] = set()
        self.without_modified = False  # a summary came without lastModified

    async def summary(self, order_id: int) -> dict[str, Any] | None:
        number = self._batch_of.get(order_id)
        if number is None:
            return None
        async with self._locks.setdefault(number, asyncio.Lock()):
            if number not in self._searched:
                self._searched.add(number)
                await self._search(self._batches[number])
        return self._found.pop(order_id, None)  # each order asks once

    async def _search(self, batch: list[int]) -> None:
        summaries = await search_batch(self._client, batch)
        wanted = set(batch)
        for summary in summaries or []:
            if isinstance(summary, dict) and summary.get("orderId") in wanted:
                kept = {k: summary[k] for k in SUMMARY_KEYS if k in summary}
                self._found[int(summary["orderId"])] = kept
                if "lastModified" not in summary and not self.without_modified:
                    self.without_modified = True
                    log.warning(
                        "the API's search answers carry no lastModified: every order (but"
                        " cancel-only ones) is read in full before its change"
                        ' (stale_check = "read" in the job\'s [api] table, or'
                        " QUIVO_STALE_CHECK=read, skips the search)"
                    )


def epoch_s(text: Any) -> float | None:
    """An ISO-8601 time (`2026-11-07T05:31:56Z`) as seconds since the epoch, or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def unmoved(summary: Mapping[str, Any], image: Mapping[str, Any], *, read_after_s: float) -> bool:
    """Whether the order of `summary` is still as `image` shows it: the same lastModified
    and status, and the image read long enough after its lastModified to trust it."""
    modified = summary.get("lastModified")
    if modified is None or modified != image.get("lastModified"):
        return False
    if summary.get("orderStatus") != image.get("orderStatus"):
        return False
    return old_enough(modified, read_after_s=read_after_s)


def old_enough(modified: Any, *, read_after_s: float) -> bool:
    """Whether an image last modified at `modified` and read after `read_after_s` shows
    every later modification by a new lastModified (whole seconds, a clock margin)."""
    at = epoch_s(modified)
    return at is not None and at + 1.0 + CLOCK_MARGIN_S <= read_after_s


class ImageSource:
    """Orders as a finished plan or run read them, one at a time from its journal.

    `table`: `before_images` (a plan's reads) or `orders` (a run's refetches, for undo).
    `read_after_s`: the earliest moment any of them was read (its first session's start).
    """

    def __init__(self, path: Path, table: str) -> None:
        if table not in ("before_images", "orders"):
            raise ValueError(table)
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._table = table
        row = self._db.execute("SELECT zdict FROM codec WHERE id = 1").fetchone()
        self._codec = OrderCodec(row[0] if row else None)
        start = self._db.execute("SELECT MIN(started_at) FROM sessions").fetchone()[0]
        self.read_after_s = float(start) if start is not None else 0.0

    @classmethod
    def of(cls, manifest: Manifest) -> ImageSource | None:
        """The images behind a run's preconditions: the plan it applies (`applies`) or
        the run it undoes (`undoes`); None when there are none or they cannot be read."""
        origin = manifest.origin
        if origin.applies:
            path, table = Path(origin.applies) / "plan-journal.sqlite", "before_images"
        elif origin.undoes:
            path, table = Path(origin.undoes) / "journal.sqlite", "orders"
        else:
            return None
        if not path.exists():
            log.info("%s is gone: every order is read in full before its change", path)
            return None
        try:
            return cls(path, table)
        except sqlite3.Error as error:
            log.info("%s cannot be read (%s): orders are read in full", path, error)
            return None

    def text(self, order_id: int) -> str | None:
        """The order as JSON text, or None."""
        query = f"SELECT body FROM {self._table} WHERE order_id = ?"  # table: checked in __init__
        row = self._db.execute(query, (order_id,)).fetchone()
        return None if row is None else self._codec.unpack(row[0])

    def image(self, order_id: int) -> tuple[dict[str, Any], str] | None:
        """(the order, its text), or None when it has none (or it cannot be read: the
        order is then read from the API)."""
        try:
            text = self.text(order_id)
        except sqlite3.Error as error:
            log.debug("image of order %d not read (%s): it is read in full", order_id, error)
            return None
        if text is None:
            return None
        order = json.loads(text)
        return (order, text) if isinstance(order, dict) else None

    def trustable(self, order_id: int) -> bool:
        """Whether the order's image is old enough that an unchanged lastModified can
        spare its read (an image refetched right after a change never is)."""
        found = self.image(order_id)
        return found is not None and old_enough(
            found[0].get("lastModified"), read_after_s=self.read_after_s
        )

    def close(self) -> None:
        self._db.close()
