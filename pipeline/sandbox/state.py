"""What one sandbox holds while it runs: orders, tokens, the rate window, fault dice, stats.

state = SandboxState(config, OrderStore(None, seed=0, count=300), time.monotonic)
order = state.order(100001)  # pending cancellations applied
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pipeline.sandbox import rules
from pipeline.sandbox.config import SandboxConfig
from pipeline.sandbox.orders import FIRST_ORDER_ID, Order, generate_order, iso

Clock = Callable[[], float]


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
    routes: list[str] = field(default_factory=list)  # each arrival's route name, in step
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
            "arrivals_per_second": self.per_second(),
        }

    def per_second(self) -> list[int]:
        """Arrivals in each whole second since the first one (how a rate ramps up)."""
        if not self.arrivals:
            return []
        first = self.arrivals[0]
        counts = [0] * (int(self.arrivals[-1] - first) + 1)
        for arrived in self.arrivals:
            counts[int(arrived - first)] += 1
        return counts


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
        self.cancels_accepted = 0  # counts cancel requests for `Faults.ship_cancelled_share`
        self.shipping: set[int] = set()  # cancel-requested orders that ship anyway
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
            if order_id in self.shipping and order["orderStatus"] in rules.CANCELLABLE:
                self.shipping.discard(order_id)
                self.stats.faults["shipped_anyway"] += 1
                order["orderStatus"] = "COMPLETED"
                order["completedAt"] = order["lastModified"] = now_iso()
            elif order["orderStatus"] in rules.CANCELLABLE:
                order["orderStatus"] = "CANCELLED"
                order["lastModified"] = now_iso()
                for fulfillment in order.get("fulfillmentOrders", []):
                    fulfillment["cancelled"] = True
                    fulfillment["fulfillmentStatus"] = "CANCELLED"
        return order

    def cancel_requested(self, order_id: int) -> None:
        """A cancel request was accepted: CANCELLED after the delay, or shipped anyway."""
        self.cancel_due[order_id] = self.clock() + self.config.cancel_delay_s
        self.cancels_accepted += 1
        share = self.config.faults.ship_cancelled_share
        number = self.cancels_accepted
        if int(number * share) > int((number - 1) * share):
            self.shipping.add(order_id)


STATE = web.AppKey("sandbox_state", SandboxState)


def now_iso() -> str:
    return iso(datetime.now(UTC))
