"""The sandbox's settings: credentials, token lifetime, rate limit and fault shares
(docs/sandbox.md).

config = SandboxConfig(rate_limit_per_s=20, faults=Faults(error_share=0.1))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Shares (0..1) of API requests that get each fault; drawn once per request."""

    error_share: float = 0.0  # answer 500/502/503 without touching the order
    drop_share: float = 0.0  # apply the request, then close the connection unanswered
    slow_share: float = 0.0  # apply the request, then answer after `slow_s`
    slow_s: float = 3.0
    malformed_share: float = 0.0  # apply the request, then answer with a broken body
    complete_share: float = 0.0  # PROCESSING orders that turn COMPLETED when first touched
    refuse_token_share: float = 0.0  # refuse a live token with 401 (it stays live): a 401 storm
    # Search summaries (GET /orders) without `lastModified`: an API that leaves it out.
    no_modified_share: float = 0.0
    # Cancel-requested orders the warehouse ships anyway: at the cancel delay they turn
    # COMPLETED instead of CANCELLED (every 1/share-th accepted cancel, so exactly that share).
    ship_cancelled_share: float = 0.0


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
    # API-profile variants (docs/api.md): how an API that differs from the docs behaves.
    auth_scheme: Literal["raw", "bearer"] = "raw"  # Authorization: <token> or Bearer <token>
    token_field: str = "token"  # where the login answer puts the token (dotted: nested)
    get_order: bool = True  # serve GET /orders/{id}; False: only the refetch reads an order
    cancel_status: int = 204  # what an accepted cancelRequest answers
