"""A Quivo-compatible API on aiohttp.web: the sandbox of SPEC §9.

An honest fake: it implements the documented API (login, token expiry, the
status table, address rules, asynchronous cancellation, a sliding-window rate
limit) plus injectable faults, and counts what it received. Nothing in it
knows about the client.

    app = create_app(SandboxConfig(rate_limit_per_s=20), orders=load_orders(path))
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal

from aiohttp import web

from pipeline.sandbox import rules
from pipeline.sandbox.orders import FIRST_ORDER_ID, Order, generate_order, iso

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Clock = Callable[[], float]

EXPIRED_MESSAGE = "The incoming token has expired"


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Shares (0..1) of API requests that get each fault; drawn once per request."""

    error_share: float = 0.0  # answer 500/502/503 without touching the order
    drop_share: float = 0.0  # apply the request, then close the connection unanswered
    slow_share: float = 0.0  # apply the request, then answer after `slow_s`
    slow_s: float = 3.0
    malformed_share: float = 0.0  # apply the request, then answer with a broken body
    complete_share: float = 0.0  # PROCESSING orders that turn COMPLETED when first touched


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    api_key: str = field(default="sandbox-key", repr=False)
    username: str = "sandbox"
    password: str = field(default="sandbox", repr=False)
    token_ttl_s: float = 3600.0
    cancel_delay_s: float = 5.0
    rate_limit_per_s: int | None = None
    retry_after: Literal["seconds", "date", "none"] = "seconds"
    faults: Faults = Faults()
    seed: int = 0
    # Orders generated when no orders are given: IDs FIRST_ORDER_ID .. +count-1.
    count: int = 300


@dataclass
class Stats:
    """What the sandbox received and served; shown at GET /_sandbox/stats."""

    requests: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_order: dict[int, Counter[str]] = field(default_factory=dict)
    accepted_mutations: Counter[int] = field(default_factory=Counter)
    logins: int = 0
    login_failures: int = 0
    auth_failures: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)
    # Tokens a client went on to use: logins whose answer was lost to a fault never are.
    tokens_used: set[str] = field(default_factory=set)

    def max_in_any_second(self) -> int:
        """Largest number of arrivals in any half-open window [t, t+1) (two pointers)."""
        best, start = 0, 0
        for end, arrived in enumerate(self.arrivals):
            while arrived - self.arrivals[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    def as_json(self) -> dict[str, Any]:
        span = self.arrivals[-1] - self.arrivals[0] if len(self.arrivals) > 1 else 0.0
        return {
            "requests": self.requests,
            "by_endpoint": dict(self.by_endpoint),
            "by_order": {str(k): dict(v) for k, v in self.by_order.items()},
            "accepted_mutations": {str(k): v for k, v in self.accepted_mutations.items()},
            "logins": self.logins,
            "tokens_used": len(self.tokens_used),
            "login_failures": self.login_failures,
            "auth_failures": dict(self.auth_failures),
            "rate_limited": self.rate_limited,
            "faults": dict(self.faults),
            "max_requests_in_any_second": self.max_in_any_second(),
            "arrival_span_s": round(span, 6),
        }


class OrderStore:
    """Orders by ID: those given explicitly, else generated lazily from the seed."""

    def __init__(self, orders: Iterable[Order] | None, *, seed: int, count: int) -> None:
        self._seed = seed
        self._orders: dict[int, Order] = {}
        if orders is not None:
            self._orders = {order["orderId"]: order for order in orders}
            self._generated = range(0)
        else:
            self._generated = range(FIRST_ORDER_ID, FIRST_ORDER_ID + count)

    def get(self, order_id: int) -> Order | None:
        order = self._orders.get(order_id)
        if order is None and order_id in self._generated:
            order = self._orders[order_id] = generate_order(order_id, seed=self._seed)
        return order

    def ids(self) -> list[int]:
        return sorted(set(self._orders) | set(self._generated))

    def materialize(self) -> None:
        """Generate every order now rather than on first touch."""
        for order_id in self._generated:
            self.get(order_id)


class SandboxState:
    """Mutable state of one sandbox: orders, tokens, rate window, fault dice, stats."""

    def __init__(self, config: SandboxConfig, store: OrderStore, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.stats = Stats()
        self.tokens: dict[str, float] = {}  # token -> expiry on `clock`
        self.window: deque[float] = deque()  # accepted arrivals in the last second
        self.cancel_due: dict[int, float] = {}  # order -> when CANCELLED takes effect
        self.dice = random.Random(config.seed)
        self.completing: set[int] = set()
        if config.faults.complete_share > 0:
            chooser = random.Random(f"complete:{config.seed}")
            for order_id in store.ids():
                if chooser.random() < config.faults.complete_share:
                    self.completing.add(order_id)

    def order(self, order_id: int, *, touch: bool = True) -> Order | None:
        """The order as it is now, pending cancellations applied.

        `touch` is a client's request for this order: an order picked to complete
        under the run (`Faults.complete_share`) turns COMPLETED on its first touch.
        """
        order = self.store.get(order_id)
        if order is None:
            return None
        if touch and order_id in self.completing:
            self.completing.discard(order_id)
            if order["orderStatus"] == "PROCESSING" and not order.get("cancelRequestedAt"):
                self.stats.faults["completed"] += 1
                order["orderStatus"] = "COMPLETED"
                order["completedAt"] = order["lastModified"] = now_iso()
        due = self.cancel_due.get(order_id)
        if due is not None and self.clock() >= due:
            del self.cancel_due[order_id]
            if order["orderStatus"] in rules.CANCELLABLE:
                order["orderStatus"] = "CANCELLED"
                order["lastModified"] = now_iso()
                for fulfillment in order.get("fulfillmentOrders", []):
                    fulfillment["cancelled"] = True
                    fulfillment["fulfillmentStatus"] = "CANCELLED"
        return order


STATE = web.AppKey("sandbox_state", SandboxState)


def now_iso() -> str:
    return iso(datetime.now(UTC))


def _message(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _plain_400(message: str) -> web.Response:
    return web.Response(status=400, text=message, content_type="text/plain")


# --- middlewares --------------------------------------------------------------------------


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
    stats.by_endpoint[route] += 1
    if "order_id" in request.match_info:
        order_key = _order_id(request)
        if order_key is not None:
            stats.by_order.setdefault(order_key, Counter())[route] += 1
    limit = state.config.rate_limit_per_s
    if limit is not None:
        window = state.window
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limit:
            stats.rate_limited += 1
            response = _message(429, "Too Many Requests")
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
        return _message(status, "Internal server error" if status == 500 else "Service Unavailable")
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
    """X-Api-Key on every call; a live raw token in Authorization on all but /login."""
    if request.path.startswith("/_sandbox"):
        return await handler(request)
    state = request.app[STATE]
    if not secrets.compare_digest(request.headers.get("X-Api-Key", ""), state.config.api_key):
        state.stats.auth_failures["api_key"] += 1
        return _message(403, "Forbidden")
    if request.match_info.route.name == "login":
        return await handler(request)
    token = request.headers.get("Authorization", "")
    expiry = state.tokens.get(token)
    if expiry is None:
        state.stats.auth_failures["unknown_token"] += 1
        return _message(401, "Unauthorized")
    if state.clock() >= expiry:
        state.stats.auth_failures["expired_token"] += 1
        return _message(401, EXPIRED_MESSAGE)
    state.stats.tokens_used.add(token)
    return await handler(request)


# --- API handlers ------------------------------------------------------------------------


def _order_id(request: web.Request) -> int | None:
    raw = request.match_info["order_id"]
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


async def _json_body(request: web.Request) -> tuple[Any, web.Response | None]:
    try:
        return await request.json(), None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, _plain_400("Malformed JSON request")


def _find(
    request: web.Request, *, touch: bool = True
) -> tuple[int, Order | None, web.Response | None]:
    order_id = _order_id(request)
    order = None if order_id is None else request.app[STATE].order(order_id, touch=touch)
    if order_id is None or order is None:
        return 0, None, _message(404, f"Order {request.match_info['order_id']} not found")
    return order_id, order, None


def _update_refusal(order_id: int, order: Order) -> web.Response | None:
    status = order["orderStatus"]
    if status not in rules.UPDATABLE:
        return _message(
            409, f"Order {order_id} is {status}; it can only be updated while PROCESSING"
        )
    if order.get("cancelRequestedAt"):
        return _message(
            409, f"Cancellation of order {order_id} was requested; it cannot be updated"
        )
    return None


async def login(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    body, error = await _json_body(request)
    if error is not None:
        return error
    config = state.config
    if (
        not isinstance(body, dict)
        or not secrets.compare_digest(str(body.get("username", "")), config.username)
        or not secrets.compare_digest(str(body.get("password", "")), config.password)
    ):
        state.stats.login_failures += 1
        return _message(401, "Invalid username or password")
    state.stats.logins += 1
    token = secrets.token_urlsafe(24)
    state.tokens[token] = state.clock() + config.token_ttl_s
    return web.json_response({"token": token})


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
    """GET /orders?query=orderStatus:X&sort=field[,desc]&page=1&pageSize=100."""
    state = request.app[STATE]
    try:
        page = int(request.query.get("page", "1"))
        page_size = int(request.query.get("pageSize", "100"))
    except ValueError:
        return _plain_400("page and pageSize must be integers")
    if page < 1 or not 1 <= page_size <= 1000:
        return _plain_400("pageSize: must be between 1 and 1000; page: must be at least 1")
    filters = []
    for term in filter(None, request.query.get("query", "").split(" AND ")):
        key, _, value = term.partition(":")
        filters.append((key.strip(), value.strip()))
    matches = []
    for order_id in state.store.ids():
        order = state.order(order_id, touch=False)
        if order is not None and all(str(order.get(k)) == v for k, v in filters):
            matches.append({key: order.get(key) for key in SUMMARY_FIELDS})
    sort_field, _, direction = request.query.get("sort", "orderId").partition(",")
    if sort_field not in SUMMARY_FIELDS:
        return _plain_400(f"sort: unknown field {sort_field}")
    matches.sort(key=lambda o: (o[sort_field] is None, str(o[sort_field]).zfill(20)))
    if direction.lower() == "desc":
        matches.reverse()
    start = (page - 1) * page_size
    return web.json_response(matches[start : start + page_size])


async def get_order(request: web.Request) -> web.StreamResponse:
    _, order, missing = _find(request)
    return missing or web.json_response(order)


async def refetch_order(request: web.Request) -> web.StreamResponse:
    return await get_order(request)


PATCH_FIELDS = frozenset({"comment", "trackingEnabled", "customAttributes", "address"})


async def patch_order(request: web.Request) -> web.StreamResponse:
    order_id, order, missing = _find(request)
    if missing or order is None:
        return missing or _message(404, "not found")
    body, error = await _json_body(request)
    if error is not None:
        return error
    if not isinstance(body, dict):
        return _plain_400("Request body must be a JSON object")
    unknown = set(body) - PATCH_FIELDS
    if unknown:
        return _plain_400(f'Unrecognized field "{sorted(unknown)[0]}"')
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
        return _plain_400(problem)
    refusal = _update_refusal(order_id, order)
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
    order_id, order, missing = _find(request)
    if missing or order is None:
        return missing or _message(404, "not found")
    address_type = request.query.get("type", "")
    if address_type not in rules.ADDRESS_TYPES:
        return _plain_400("type: must be one of " + ", ".join(rules.ADDRESS_TYPES))
    body, error = await _json_body(request)
    if error is not None:
        return error
    if not isinstance(body, dict):
        return _plain_400("Request body must be a JSON object")
    problem = rules.address_problem(body)
    if problem:
        return _plain_400(problem)
    refusal = _update_refusal(order_id, order)
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
    order_id, order, missing = _find(request)
    if missing or order is None:
        return missing or _message(404, "not found")
    state = request.app[STATE]
    status = order["orderStatus"]
    if status not in rules.CANCELLABLE:
        return _message(409, f"Order {order_id} is {status}; it can no longer be cancelled")
    if order.get("cancelRequestedAt"):
        return _message(
            409,
            f"Cancellation of order {order_id} was already requested"
            f" at {order['cancelRequestedAt']}",
        )
    order["cancelRequestedAt"] = order["lastModified"] = now_iso()
    state.cancel_due[order_id] = state.clock() + state.config.cancel_delay_s
    state.stats.accepted_mutations[order_id] += 1
    return web.Response(status=204)


# --- sandbox control ---------------------------------------------------------------------


async def show_stats(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[STATE].stats.as_json())


async def reset_stats(request: web.Request) -> web.StreamResponse:
    request.app[STATE].stats = Stats()
    return web.Response(status=204)


async def peek_order(request: web.Request) -> web.StreamResponse:
    """The order as stored, without auth, faults or counting: for tests' invariants."""
    _, order, missing = _find(request, touch=False)
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
    app.router.add_get("/orders/{order_id}", get_order, name="get")
    app.router.add_patch("/orders/{order_id}", patch_order, name="patch")
    app.router.add_put("/orders/{order_id}/address", put_address, name="address")
    app.router.add_post("/orders/{order_id}/cancelRequest", cancel_request, name="cancel")
    app.router.add_post("/orders/{order_id}/refetch", refetch_order, name="refetch")
    app.router.add_get("/_sandbox/stats", show_stats)
    app.router.add_post("/_sandbox/reset", reset_stats)
    app.router.add_get("/_sandbox/orders/{order_id}", peek_order)
    return app
