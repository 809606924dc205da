"""A Quivo-compatible API on aiohttp.web: the sandbox of docs/sandbox.md.

An honest fake: it implements the documented API (login, token expiry, the
status table, address rules, asynchronous cancellation, a sliding-window rate
limit) plus injectable faults, and counts what it received. Nothing in it
knows about the client.

Built from: `config` (settings, fault shares), `state` (orders, tokens,
stats), `middleware` (count and rate-limit, faults, auth), `handlers` (the
API's endpoints), `replies` (their shared helpers); this module wires them up
and adds the `/_sandbox` control endpoints.

    app = create_app(SandboxConfig(rate_limit_per_s=20), orders=load_orders(path))
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from aiohttp import web

from pipeline.sandbox.config import Faults, SandboxConfig
from pipeline.sandbox.handlers import (
    cancel_request,
    get_order,
    list_orders,
    login,
    patch_order,
    put_address,
    refetch_order,
)
from pipeline.sandbox.middleware import authenticate, count_and_limit, inject_faults
from pipeline.sandbox.orders import Order
from pipeline.sandbox.replies import find_order
from pipeline.sandbox.state import STATE, Clock, OrderStore, SandboxState, Stats

__all__ = ["STATE", "Faults", "SandboxConfig", "SandboxState", "Stats", "create_app"]


# --- sandbox control ---------------------------------------------------------------------


async def show_stats(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[STATE].stats.as_json())


async def show_arrivals(request: web.Request) -> web.StreamResponse:
    """Every request's arrival stamp (time.monotonic of the sandbox), for traces."""
    return web.json_response(request.app[STATE].stats.arrivals)


async def reset_stats(request: web.Request) -> web.StreamResponse:
    request.app[STATE].stats = Stats()
    return web.Response(status=204)


async def peek_order(request: web.Request) -> web.StreamResponse:
    """The order as stored, without auth, faults or counting: for tests' invariants."""
    _, order, missing = find_order(request, touch=False)
    return missing or web.json_response(order)


def create_app(
    config: SandboxConfig | None = None,
    *,
    orders: Iterable[Order] | None = None,
    clock: Clock = time.monotonic,
) -> web.Application:
    """Build the sandbox application; serve it with `pipeline.sandbox.serve`."""
    config = config or SandboxConfig()
    store = OrderStore(orders, seed=config.seed, count=config.count)
    app = web.Application(middlewares=[count_and_limit, inject_faults, authenticate])
    app[STATE] = SandboxState(config, store, clock)
    app.router.add_post("/login", login, name="login")
    app.router.add_get("/orders", list_orders, name="list")
    if config.get_order:
        app.router.add_get("/orders/{order_id}", get_order, name="get")
    app.router.add_patch("/orders/{order_id}", patch_order, name="patch")
    app.router.add_put("/orders/{order_id}/address", put_address, name="address")
    app.router.add_post("/orders/{order_id}/cancelRequest", cancel_request, name="cancel")
    app.router.add_post("/orders/{order_id}/refetch", refetch_order, name="refetch")
    app.router.add_get("/_sandbox/stats", show_stats)
    app.router.add_get("/_sandbox/arrivals", show_arrivals)
    app.router.add_post("/_sandbox/reset", reset_stats)
    app.router.add_get("/_sandbox/orders/{order_id}", peek_order)
    return app
