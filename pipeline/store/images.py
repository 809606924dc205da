"""Before-images and request counts as the journal keeps them: each order as last
read, the images one at a time, and what the reads cost (docs/reference/outputs.md).

    images = StoredImages(journal)   # a Mapping, parsed when asked for
    request_costs(journal, rows, profile=profile)["requests_by_kind"]
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pipeline.api.profile import ApiProfile
from pipeline.store.journal import Journal


def last_read(journal: Journal) -> Iterator[tuple[int, str]]:
    """Each order as last read, by order ID: refetched after its changes, else its
    before-image (an order decided unchanged or status_conflict is read only once).

    Streams both journal tables in order-ID order: one order in memory at a time.
    """
    refetched = ((order_id, 0, body) for order_id, body in journal.orders())
    before = ((order_id, 1, body) for order_id, body in journal.before_images())
    previous: int | None = None
    for order_id, _, body in heapq.merge(refetched, before):
        if order_id != previous:
            yield order_id, body
            previous = order_id


def load_images(journal: Journal) -> dict[int, dict[str, Any]]:
    """Every before-image of a run, parsed (all in memory: for undo)."""
    return {order_id: json.loads(body) for order_id, body in journal.before_images()}


class StoredImages(Mapping[int, Mapping[str, Any]]):
    """Before-images read from the journal one at a time, parsed when asked for.

    A parsed order takes ~20 KB: 100,000 of them at once would take 2 GB.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def __getitem__(self, order_id: int) -> Mapping[str, Any]:
        body = self._journal.before_image(order_id)
        if body is None:
            raise KeyError(order_id)
        image: dict[str, Any] = json.loads(body)
        return image

    def __iter__(self) -> Iterator[int]:
        return (order_id for order_id, _ in self._journal.before_images())

    def __len__(self) -> int:
        return self._journal.before_image_count()


def requests_by_kind(
    sent: Iterable[tuple[int, int | None, int | None, str, str]],
    *,
    login_path: str,
    orders_path: str,
) -> dict[str, int]:
    """Requests by kind: login, lookup (GET /orders for shop order numbers), search
    (GET /orders for orders' status and lastModified, journaled with order 0), read
    (of an order before its first change in a session), mutation (a row's request)
    and refetch (after)."""
    # One pass in request order: a request for an order is a read until a row's
    # request for that order went out in the same session (a correlated subquery
    # over all requests would be quadratic: hours at 100,000 rows).
    counts = dict.fromkeys(("login", "lookup", "search", "read", "mutation", "refetch"), 0)
    changed: set[tuple[int, int | None]] = set()
    for session, order_id, row_idx, method, path in sent:
        if path == login_path:
            kind = "login"
        elif row_idx is not None:
            kind = "mutation"
            changed.add((session, order_id))
        elif method == "GET" and path == orders_path:
            kind = "lookup" if order_id is None else "search"
        elif order_id is not None and (session, order_id) not in changed:
            kind = "read"
        else:
            kind = "refetch"
        counts[kind] += 1
    return counts


def request_costs(journal: Journal, rows: int, *, profile: ApiProfile) -> dict[str, Any]:
    """Requests by kind and per row (docs/reference/outputs.md, docs/plan-apply-undo.md): what the
    before-image read costs."""
    kinds = requests_by_kind(
        journal.sent_requests(), login_path=profile.login_path, orders_path=profile.orders_path
    )
    total = sum(kinds.values())
    return {
        "requests_by_kind": kinds,
        "requests_per_row": round(total / rows, 3) if rows else 0.0,
        "requests_per_row_by_kind": {
            k: round(v / rows, 3) if rows else 0.0 for k, v in kinds.items()
        },
    }
