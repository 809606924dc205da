"""Before-images: read an order before its first change (docs/plan-apply-undo.md).

Which orders are read first (`wants_image`) and the one read of an order
(`read_order`); what the image then decides is `pipeline.plan.diff`'s, and how the
journal keeps the images is `pipeline.store.images`'.

    answer = await read_order(client, order_id)       # the one read of an order
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.api.client import Answer, QuivoClient
from pipeline.inputs.changes import Change

SNAPSHOT_MODES = ("always", "changes", "never")


async def read_order(client: QuivoClient, order_id: int) -> Answer:
    """Read one order as it is now: every before-image and freshness check goes through here.

    The read is the API profile's `read` endpoint (docs/api.md): the refetch by default.
    """
    read = client.profile.read_request(order_id)
    return await client.call(read.method, read.path, order_id=order_id, expect_json=True)


def wants_image(changes: Sequence[Change], mode: str, *, precondition: bool = False) -> bool:
    """Whether an order with `changes` is read first: always, for update/address rows, never.

    An order with a precondition (apply, undo --apply) is always read: the check needs it.
    A change that writes an address is always read, whatever the mode: the address goes
    out whole, the order's current one with the row's fields laid over it.
    """
    if precondition or mode == "always":
        return True
    if any(change.writes_address() for change in changes):
        return True
    if mode == "never":
        return False
    return any(change.action != "cancel" for change in changes)
