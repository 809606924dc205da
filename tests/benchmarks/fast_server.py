"""A minimal, fast Quivo-shaped server for measuring client overhead (not the sandbox).

python -m tests.benchmarks.fast_server   # prints "Fast server listening on URL"
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from pipeline.sandbox.orders import generate_order

TEMPLATE = generate_order(4100001, seed=7) | {
    "orderStatus": "PROCESSING",
    "cancelRequestedAt": None,
}
COMMENTS: dict[str, str] = {}


async def login(request: web.Request) -> web.Response:
    return web.json_response({"token": "bench-token"})


async def patch(request: web.Request) -> web.Response:
    body = await request.json()
    COMMENTS[request.match_info["order_id"]] = body.get("comment", "")
    return web.Response(status=204)


async def refetch(request: web.Request) -> web.Response:
    order_id = request.match_info["order_id"]
    order = TEMPLATE | {"orderId": int(order_id), "comment": COMMENTS.get(order_id, "")}
    return web.Response(text=json.dumps(order), content_type="application/json")


async def main() -> None:
    app = web.Application()
    app.router.add_post("/login", login)
    app.router.add_patch("/orders/{order_id}", patch)
    app.router.add_post("/orders/{order_id}/refetch", refetch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"Fast server listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
