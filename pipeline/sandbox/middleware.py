"""The sandbox's middlewares, outermost first: count and rate-limit, inject faults, authenticate.

web.Application(middlewares=[count_and_limit, inject_faults, authenticate])
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import web

from pipeline.sandbox.replies import message, order_id_of, same_secret
from pipeline.sandbox.state import STATE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

EXPIRED_MESSAGE = "The incoming token has expired"


@web.middleware
async def count_and_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every API request, then apply the sliding one-second rate limit."""
    if request.path.startswith("/_sandbox"):
        return await handler(request)
    state = request.app[STATE]
    now = state.clock()
    stats = state.stats
    stats.requests += 1
    stats.arrivals.append(now)
    route = request.match_info.route.name or "unknown"
    stats.routes.append(route)
    stats.by_endpoint[route] += 1
    if "order_id" in request.match_info:
        order_key = order_id_of(request)
        if order_key is not None:
            stats.by_order.setdefault(order_key, Counter())[route] += 1
    limit = state.config.rate_limit_per_s
    if limit is not None:
        window = state.window
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limit:
            stats.rate_limited += 1
            response = message(429, "Too Many Requests")
            wait_s = max(1, math.ceil(1.0 - (now - window[0])))
            if state.config.retry_after == "seconds":
                response.headers["Retry-After"] = str(wait_s)
            elif state.config.retry_after == "date":
                # HTTP dates have whole seconds: round up, or the date could be in the past.
                when = datetime.fromtimestamp(math.ceil(time.time() + wait_s), UTC)
                response.headers["Retry-After"] = format_datetime(when, usegmt=True)
            return response
        window.append(now)
    return await handler(request)


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Draw at most one fault per API request (shares from `Faults`)."""
    if request.path.startswith("/_sandbox"):
        return await handler(request)
    state = request.app[STATE]
    faults = state.config.faults
    roll = state.dice.random()
    if roll < faults.error_share:
        status = state.dice.choice([500, 502, 503])
        state.stats.faults[f"http_{status}"] += 1
        if status == 502:
            html = "<html><head><title>502 Bad Gateway</title></head><body>502</body></html>"
            return web.Response(status=502, text=html, content_type="text/html")
        return message(status, "Internal server error" if status == 500 else "Service Unavailable")
    roll -= faults.error_share
    response = await handler(request)
    if roll < faults.drop_share:
        state.stats.faults["dropped"] += 1
        if request.transport is not None:
            request.transport.abort()
        return response
    roll -= faults.drop_share
    if roll < faults.slow_share:
        state.stats.faults["slow"] += 1
        await asyncio.sleep(faults.slow_s)
        return response
    roll -= faults.slow_share
    if roll < faults.malformed_share:
        state.stats.faults["malformed"] += 1
        return web.Response(
            status=200 if response.status == 204 else response.status,
            text='{"orderId": 1, "orderStatus": "PROC',
            content_type="application/json",
        )
    return response


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """X-Api-Key on every call; a live token in Authorization on all but /login.

    The token is sent raw (the documented scheme) or, in the bearer variant, as
    `Bearer <token>`; the other form is an unknown token (401).
    """
    if request.path.startswith("/_sandbox"):
        return await handler(request)
    state = request.app[STATE]
    if not same_secret(request.headers.get("X-Api-Key", ""), state.config.api_key):
        state.stats.auth_failures["api_key"] += 1
        return message(403, "Forbidden")
    if request.match_info.route.name == "login":
        return await handler(request)
    token = request.headers.get("Authorization", "")
    if state.config.auth_scheme == "bearer":
        scheme, _, token = token.partition(" ")
        token = token if scheme.lower() == "bearer" else ""
    expiry = state.tokens.get(token)
    if expiry is None:
        state.stats.auth_failures["unknown_token"] += 1
        return message(401, "Unauthorized")
    if state.clock() >= expiry:
        state.stats.auth_failures["expired_token"] += 1
        return message(401, EXPIRED_MESSAGE)
    share = state.config.faults.refuse_token_share
    if share and state.dice.random() < share:  # a live token refused: a 401 storm
        state.stats.auth_failures["refused_live_token"] += 1
        return message(401, "Unauthorized")
    state.stats.tokens_used.add(token)
    return await handler(request)
