"""The sandbox's API handlers: login, order list, get, refetch, patch, address, cancelRequest.

Each checks its request the way the documented API does and changes the
order in `SandboxState`; the middlewares have already counted, limited,
faulted and authenticated it.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from pipeline.sandbox import rules, search
from pipeline.sandbox.replies import (
    find_order,
    json_body,
    message,
    plain_400,
    same_secret,
    update_refusal,
)
from pipeline.sandbox.state import STATE, now_iso


async def login(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    body, error = await json_body(request)
    if error is not None:
        return error
    config = state.config
    if (
        not isinstance(body, dict)
        or not same_secret(str(body.get("username", "")), config.username)
        or not same_secret(str(body.get("password", "")), config.password)
    ):
        state.stats.login_failures += 1
        return message(401, "Invalid username or password")
    state.stats.logins += 1
    token = secrets.token_urlsafe(24)
    state.tokens[token] = state.clock() + config.token_ttl_s
    answer: dict[str, Any] = {}
    *parents, leaf = config.token_field.split(".")
    inner = answer
    for key in parents:
        inner = inner.setdefault(key, {})
    inner[leaf] = token
    return web.json_response(answer)


SUMMARY_FIELDS = (
    "orderId",
    "orderIdentifier",
    "orderReference",
    "orderStatus",
    "created",
    "lastModified",
    "cancelRequestedAt",
    "shopId",
    "sellerId",
)


async def list_orders(request: web.Request) -> web.StreamResponse:
    """GET /orders?query=...&sort=field:desc&page=1&pageSize=100[&searchAfter=value]."""
    state = request.app[STATE]
    try:
        page = int(request.query.get("page", "1"))
        page_size = int(request.query.get("pageSize", "100"))
    except ValueError:
        return plain_400("page and pageSize must be integers")
    if page < 1 or not 1 <= page_size <= 1000:
        return plain_400("pageSize: must be between 1 and 1000; page: must be at least 1")
    try:
        matches_query = search.parse_query(request.query.get("query", ""))
        sort_field, descending = search.parse_sort(
            request.query.get("sort", "orderId"), SUMMARY_FIELDS
        )
    except search.QueryError as error:
        return plain_400(str(error))
    matches = []
    # A query of order IDs alone is looked up, as an index would (not a scan of every order).
    wanted = search.only_order_ids(request.query.get("query", ""))
    candidates = state.store.ids() if wanted is None else sorted(set(wanted))
    for order_id in candidates:
        order = state.order(order_id, touch=False)
        if order is not None and matches_query(order):
            summary = {key: order.get(key) for key in SUMMARY_FIELDS}
            share = state.config.faults.no_modified_share
            if share > 0 and state.dice.random() < share:
                del summary["lastModified"]
            matches.append(summary)
    matches.sort(key=lambda o: search.sort_key(o.get(sort_field)), reverse=descending)
    after = request.query.get("searchAfter")
    if after is not None:  # deep paging: what sorts after the last item seen
        mark = search.sort_key(after)
        keys = [(search.sort_key(o.get(sort_field)), o) for o in matches]
        matches = [o for key, o in keys if key != mark and (key < mark) == descending]
        page = 1
    start = (page - 1) * page_size
    return web.json_response(matches[start : start + page_size])


async def get_order(request: web.Request) -> web.StreamResponse:
    _, order, missing = find_order(request)
    return missing or web.json_response(order)


async def refetch_order(request: web.Request) -> web.StreamResponse:
    return await get_order(request)


PATCH_FIELDS = frozenset({"comment", "trackingEnabled", "customAttributes", "address"})


async def patch_order(request: web.Request) -> web.StreamResponse:
    order_id, order, missing = find_order(request)
    if missing or order is None:
        return missing or message(404, "not found")
    body, error = await json_body(request)
    if error is not None:
        return error
    if not isinstance(body, dict):
        return plain_400("Request body must be a JSON object")
    unknown = set(body) - PATCH_FIELDS
    if unknown:
        return plain_400(f'Unrecognized field "{sorted(unknown)[0]}"')
    problem = rules.comment_problem(body.get("comment"))
    tracking = body.get("trackingEnabled")
    if tracking is not None and not isinstance(tracking, bool):
        problem = problem or "trackingEnabled: must be a boolean"
    attributes = body.get("customAttributes")
    if attributes is not None and not isinstance(attributes, dict):
        problem = problem or "customAttributes: must be an object"
    address = body.get("address")
    merged: dict[str, Any] | None = None
    if address is not None:
        if not isinstance(address, dict):
            problem = problem or "address: must be an object"
        else:
            current = rules.to_request_address(order["deliveryAddress"])
            merged = {**current, **{k: v for k, v in address.items() if v is not None}}
            problem = problem or rules.address_problem(merged)
    if problem:
        return plain_400(problem)
    refusal = update_refusal(order_id, order)
    if refusal:
        return refusal
    if "comment" in body and body["comment"] is not None:
        order["comment"] = body["comment"]
    if tracking is not None:
        order["trackingEnabled"] = tracking
    if attributes:
        order["customAttributes"] = {**(order.get("customAttributes") or {}), **attributes}
    if address:
        update = {k: v for k, v in address.items() if v is not None}
        order["deliveryAddress"].update(rules.to_response_address(update, invoice=False))
    order["lastModified"] = now_iso()
    request.app[STATE].stats.accepted_mutations[order_id] += 1
    return web.Response(status=204)


async def put_address(request: web.Request) -> web.StreamResponse:
    order_id, order, missing = find_order(request)
    if missing or order is None:
        return missing or message(404, "not found")
    address_type = request.query.get("type", "")
    if address_type not in rules.ADDRESS_TYPES:
        return plain_400("type: must be one of " + ", ".join(rules.ADDRESS_TYPES))
    body, error = await json_body(request)
    if error is not None:
        return error
    if not isinstance(body, dict):
        return plain_400("Request body must be a JSON object")
    problem = rules.address_problem(body)
    if problem:
        return plain_400(problem)
    refusal = update_refusal(order_id, order)
    if refusal:
        return refusal
    blank: dict[str, Any] = {rules.RESPONSE_FIELD[key]: "" for key in rules.ADDRESS_FIELDS}
    blank.update(latitude=None, longitude=None)
    if address_type in ("DELIVERY", "DELIVERY_AND_INVOICE"):
        order["deliveryAddress"].update(blank | rules.to_response_address(body, invoice=False))
    if address_type in ("INVOICE", "DELIVERY_AND_INVOICE"):
        invoice = {k: v for k, v in blank.items() if k not in ("latitude", "longitude")}
        order["invoiceAddress"].update(invoice | rules.to_response_address(body, invoice=True))
    order["lastModified"] = now_iso()
    request.app[STATE].stats.accepted_mutations[order_id] += 1
    return web.Response(status=204)


async def cancel_request(request: web.Request) -> web.StreamResponse:
    order_id, order, missing = find_order(request)
    if missing or order is None:
        return missing or message(404, "not found")
    state = request.app[STATE]
    status = order["orderStatus"]
    if status not in rules.CANCELLABLE:
        return message(409, f"Order {order_id} is {status}; it can no longer be cancelled")
    if order.get("cancelRequestedAt"):
        return message(
            409,
            f"Cancellation of order {order_id} was already requested"
            f" at {order['cancelRequestedAt']}",
        )
    order["cancelRequestedAt"] = order["lastModified"] = now_iso()
    state.cancel_requested(order_id)
    state.stats.accepted_mutations[order_id] += 1
    return web.Response(status=state.config.cancel_status)
