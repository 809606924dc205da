"""Small helpers the sandbox's handlers share: error answers, the order in the URL, the body.

order_id, order, missing = find_order(request)
if missing: return missing
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from pipeline.sandbox import rules
from pipeline.sandbox.orders import Order
from pipeline.sandbox.state import STATE


def same_secret(given: str, expected: str) -> bool:
    """Compare in constant time; as UTF-8 bytes, since `secrets.compare_digest` refuses
    non-ASCII str (a password such as 'Pässwort' would crash the login with a 500)."""
    return secrets.compare_digest(given.encode(), expected.encode())


def message(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def plain_400(message: str) -> web.Response:
    return web.Response(status=400, text=message, content_type="text/plain")


def order_id_of(request: web.Request) -> int | None:
    raw = request.match_info["order_id"]
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


async def json_body(request: web.Request) -> tuple[Any, web.Response | None]:
    try:
        return await request.json(), None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, plain_400("Malformed JSON request")


def find_order(
    request: web.Request, *, touch: bool = True
) -> tuple[int, Order | None, web.Response | None]:
    order_id = order_id_of(request)
    order = None if order_id is None else request.app[STATE].order(order_id, touch=touch)
    if order_id is None or order is None:
        return 0, None, message(404, f"Order {request.match_info['order_id']} not found")
    return order_id, order, None


def update_refusal(order_id: int, order: Order) -> web.Response | None:
    status = order["orderStatus"]
    if status not in rules.UPDATABLE:
        return message(
            409, f"Order {order_id} is {status}; it can only be updated while PROCESSING"
        )
    if order.get("cancelRequestedAt"):
        return message(409, f"Cancellation of order {order_id} was requested; it cannot be updated")
    return None
