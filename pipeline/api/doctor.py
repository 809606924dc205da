"""`doctor`: check the configured API against the profile, read-only (docs/api.md).

A handful of requests, each sent once (no retries, no pacing): the login, the
order search with `pageSize=1` under each auth scheme until one is accepted,
`GET` of one order, and with `order_id` one refetch. Nothing that changes an
order is ever sent. Each check is one `Check`: ok / differs / failed, with the
profile setting to use where the API differs. Nothing a check says holds a
secret: only status codes, key names and timings.

    report = asyncio.run(diagnose(settings, credentials, order_id=None))
    report.exit_code  # 0 all as assumed, 1 some setting must change, 3 unreachable / no login
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pipeline.api.answers import error_message, is_success
from pipeline.api.profile import TOKEN_HINT, ApiProfile, AuthScheme
from pipeline.api.settings import ApiSettings, Credentials
from pipeline.api.transport import Exchange, Transport

Verdict = Literal["ok", "differs", "failed", "skipped"]
# What verification reads from a refetched order (docs/design/sending.md).
VERIFY_FIELDS = (
    "orderId",
    "orderStatus",
    "lastModified",
    "cancelRequestedAt",
    "comment",
    "trackingEnabled",
    "customAttributes",
    "deliveryAddress",
    "invoiceAddress",
)
EXPIRY_KEYS = ("expiresIn", "expires_in", "expiresInSeconds", "ttl", "tokenTtl")
RATE_HEADER_WORDS = ("ratelimit", "rate-limit", "retry-after")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    verdict: Verdict
    detail: str
    setting: str | None = None  # e.g. 'auth_scheme = "bearer"': what to set, when it matters

    def line(self) -> str:
        text = f"{self.verdict:<8}{self.name:<22}{self.detail}"
        if self.setting:
            variable = "QUIVO_" + self.setting.split(" =")[0].upper()
            text += f"; set {self.setting} (job [api] table, or {variable})"
        return text


@dataclass
class Diagnosis:
    checks: list[Check] = field(default_factory=list)
    unreachable: bool = False  # the API cannot be reached or login fails: exit 3

    @property
    def exit_code(self) -> int:
        if self.unreachable:
            return 3
        return 1 if any(c.verdict in ("differs", "failed") for c in self.checks) else 0

    def lines(self) -> list[str]:
        return [check.line() for check in self.checks]


def _paths(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) of a JSON object's leaves."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), value


def token_candidates(answer: Any) -> list[str]:
    """Dotted paths of a login answer that may hold the token: text values, TOKEN_HINT first."""
    texts = [(path, value) for path, value in _paths(answer) if isinstance(value, str) and value]
    named = [path for path, value in texts if TOKEN_HINT in path.lower() and len(value) >= 8]
    return named or [path for path, value in texts if len(value) >= 16]


def stated_ttl_s(answer: Any) -> float | None:
    """A token lifetime the login answer states in seconds, if it states one."""
    for path, value in _paths(answer):
        if path.split(".")[-1] in EXPIRY_KEYS and isinstance(value, int | float) and value > 0:
            return float(value)
    return None


class _Prober:
    """Sends each request once and remembers every exchange (for latency and headers)."""

    def __init__(self, transport: Transport, credentials: Credentials) -> None:
        self._transport, self._credentials = transport, credentials
        self.exchanges: list[Exchange] = []

    async def send(
        self,
        profile: ApiProfile,
        method: str,
        path: str,
        *,
        token: str | None,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Exchange:
        headers = profile.auth_headers(api_key=self._credentials.api_key_text(), token=token)
        exchange = await self._transport.send(
            method, path, params=params, body=body, headers=headers
        )
        self.exchanges.append(exchange)
        return exchange


def _answer(exchange: Exchange) -> str:
    if exchange.status is None:
        return exchange.problem or "no answer"
    return f"HTTP {exchange.status} in {exchange.latency_ms:.0f} ms"


async def diagnose(
    settings: ApiSettings, credentials: Credentials, *, order_id: int | None = None
) -> Diagnosis:
    """Run every check against `settings.base_url` with `settings.profile`; send no change."""
    profile = settings.profile
    report = Diagnosis()
    add = report.checks.append
    transport = Transport(
        base_url=settings.base_url,
        timeout_s=settings.timeout_s,
        connect_timeout_s=settings.connect_timeout_s,
        max_body_bytes=settings.max_body_bytes,
        connections=2,
    )
    async with transport:
        probe = _Prober(transport, credentials)
        token = await _login(probe, profile, credentials, report)
        if token is None:
            return report
        profile, orders = await _auth_and_search(probe, profile, token, report)
        if orders is None:
            return report
        _last_modified(profile, orders, report)
        known = order_id if order_id is not None else _first_order_id(orders)
        await _get_order(probe, profile, token, known, report)
        if order_id is None:
            add(Check("refetch", "skipped", "give --order ID to check the refetch of one order"))
        else:
            await _refetch(probe, profile, token, order_id, report)
        _timing_and_limits(probe.exchanges, settings, report)
    return report


async def _login(
    probe: _Prober, profile: ApiProfile, credentials: Credentials, report: Diagnosis
) -> str | None:
    add = report.checks.append
    if not credentials.can_login:
        add(Check("login", "skipped", "QUIVO_TOKEN given: no login, its token is used as is"))
        return credentials.static_token()
    login = profile.login_request(
        {"username": credentials.username or "", "password": credentials.password_text()}
    )
    exchange = await probe.send(profile, login.method, login.path, token=None, body=login.body)
    if exchange.status is None:
        report.unreachable = True
        add(Check("base URL", "failed", f"{_answer(exchange)}; check QUIVO_BASE_URL / --base-url"))
        return None
    add(Check("base URL", "ok", f"answers ({_answer(exchange)})"))
    if not is_success(exchange.status):
        report.unreachable = True
        reason = error_message(exchange.status, exchange.body)
        add(
            Check(
                "login",
                "failed",
                f"{reason}; check QUIVO_API_KEY, QUIVO_USERNAME, QUIVO_PASSWORD"
                f" (and login_path {profile.login_path})",
            )
        )
        return None
    token = profile.token_from(exchange.body)
    if token is not None:
        add(Check("login", "ok", f"the token is in '{profile.token_field}'"))
    else:
        found = token_candidates(exchange.body)
        if not found:
            report.unreachable = True
            keys = ", ".join(path for path, _ in _paths(exchange.body)) or "none"
            add(Check("login", "failed", f"no token in the answer (its keys: {keys})"))
            return None
        token = replace(profile, token_field=found[0]).token_from(exchange.body)
        add(
            Check(
                "token field",
                "differs",
                f"the token is in '{found[0]}', not '{profile.token_field}'",
                f'token_field = "{found[0]}"',
            )
        )
    ttl = stated_ttl_s(exchange.body)
    if ttl is None:
        add(Check("token lifetime", "ok", f"not stated; assumed {profile.token_ttl_s:g} s"))
    elif abs(ttl - profile.token_ttl_s) > 1:
        add(
            Check(
                "token lifetime",
                "differs",
                f"stated {ttl:g} s",
                f"token_ttl_s = {ttl:g}",
            )
        )
    else:
        add(Check("token lifetime", "ok", f"stated {ttl:g} s, as assumed"))
    return token


async def _auth_and_search(
    probe: _Prober, profile: ApiProfile, token: str, report: Diagnosis
) -> tuple[ApiProfile, list[Any] | None]:
    """Which auth scheme the search accepts, and what shape its answer has."""
    add = report.checks.append
    search = profile.search_request(page_size=1)
    other: AuthScheme = "bearer" if profile.auth_scheme == "raw" else "raw"
    schemes: list[AuthScheme] = [profile.auth_scheme, other]
    exchange: Exchange | None = None
    for scheme in schemes:
        trial = replace(profile, auth_scheme=scheme)
        exchange = await probe.send(
            trial, search.method, search.path, token=token, params=search.params
        )
        if exchange.status is None:
            report.unreachable = True
            add(Check("base URL", "failed", f"{_answer(exchange)}; check QUIVO_BASE_URL"))
            return profile, None
        if exchange.status not in (401, 403):
            if scheme == profile.auth_scheme:
                add(Check("auth scheme", "ok", f"'{scheme}' accepted"))
            else:
                add(
                    Check(
                        "auth scheme",
                        "differs",
                        f"'{profile.auth_scheme}' refused, '{scheme}' accepted",
                        f'auth_scheme = "{scheme}"',
                    )
                )
            profile = trial
            break
    else:
        assert exchange is not None
        report.unreachable = True  # no request but the login can work
        add(Check("auth scheme", "failed", f"neither scheme accepted ({_answer(exchange)})"))
        return profile, None
    where = f"GET {profile.orders_path}?pageSize=1"
    if not is_success(exchange.status):
        detail = f"{error_message(exchange.status, exchange.body)}"
        add(Check("order search", "failed", f"{where}: {detail}"))
        return profile, None
    if not isinstance(exchange.body, list):
        shape = type(exchange.body).__name__
        keys = ", ".join(exchange.body) if isinstance(exchange.body, dict) else shape
        add(Check("order search", "differs", f"{where}: not a bare list ({keys})"))
        return profile, []
    count = len(exchange.body)
    add(
        Check(
            "order search",
            "ok",
            f"{where}: a list ({count} order summar{'y' if count == 1 else 'ies'})",
        )
    )
    return profile, exchange.body


def _last_modified(profile: ApiProfile, orders: list[Any], report: Diagnosis) -> None:
    """Whether search summaries carry `lastModified`: apply's batched staleness check
    (`stale_check = "search"`) needs it."""
    add = report.checks.append
    name = "search lastModified"
    summaries = [o for o in orders if isinstance(o, dict)]
    if not summaries:
        add(Check(name, "skipped", "the search answered no order summary to look at"))
        return
    if all(o.get("lastModified") for o in summaries):
        how = "in batches" if profile.stale_check == "search" else 'by reads (stale_check = "read")'
        add(Check(name, "ok", f"search answers carry it; apply checks staleness {how}"))
    elif profile.stale_check == "search":
        detail = "search answers carry no lastModified: apply would read every order in full"
        add(Check(name, "differs", detail, 'stale_check = "read"'))
    else:
        add(Check(name, "ok", 'search answers carry none; keep stale_check = "read" (as set)'))


def _first_order_id(orders: list[Any]) -> int | None:
    for summary in orders:
        if isinstance(summary, dict) and isinstance(summary.get("orderId"), int):
            return int(summary["orderId"])
    return None


async def _get_order(
    probe: _Prober, profile: ApiProfile, token: str, order_id: int | None, report: Diagnosis
) -> None:
    add = report.checks.append
    if order_id is None:
        add(Check("GET one order", "skipped", "no order to try: give --order ID"))
        return
    read = profile.fetch_request(order_id, "get")
    exchange = await probe.send(profile, read.method, read.path, token=token)
    if is_success(exchange.status) and isinstance(exchange.body, dict):
        add(Check("GET one order", "ok", f"served ({_answer(exchange)})"))
        return
    uses_get = [name for name in ("read", "verify") if getattr(profile, name) == "get"]
    detail = f"not served for order {order_id} ({_answer(exchange)})"
    if uses_get:
        settings = ", ".join(f'{name} = "refetch"' for name in uses_get)
        add(Check("GET one order", "differs", detail, settings))
    else:
        keep = 'keep read = "refetch" and verify = "refetch" (as set)'
        add(Check("GET one order", "ok", f"{detail}; {keep}"))


async def _refetch(
    probe: _Prober, profile: ApiProfile, token: str, order_id: int, report: Diagnosis
) -> None:
    add = report.checks.append
    read = profile.fetch_request(order_id, "refetch")
    exchange = await probe.send(profile, read.method, read.path, token=token)
    if not is_success(exchange.status) or not isinstance(exchange.body, dict):
        reason = error_message(exchange.status, exchange.body) if exchange.status else ""
        add(Check("refetch", "failed", f"order {order_id}: {reason or _answer(exchange)}"))
        return
    missing = [name for name in VERIFY_FIELDS if name not in exchange.body]
    if missing:
        detail = f"order {order_id}: lacks {', '.join(missing)}; verification cannot check it"
        add(Check("refetch", "differs", detail))
    else:
        add(Check("refetch", "ok", f"order {order_id}: has the fields verification reads"))


def _timing_and_limits(exchanges: list[Exchange], settings: ApiSettings, report: Diagnosis) -> None:
    add = report.checks.append
    latencies = [e.latency_ms for e in exchanges if e.status is not None]
    if latencies:
        median = statistics.median(latencies)
        add(
            Check(
                "latency",
                "ok",
                f"median {median:.0f} ms, slowest {max(latencies):.0f} ms"
                f" of {len(latencies)} requests (timeout {settings.timeout_s:g} s)",
            )
        )
    seen = sorted(
        {
            f"{name}: {value}"
            for e in exchanges
            for name, value in (e.headers or {}).items()
            if any(word in name.lower() for word in RATE_HEADER_WORDS)
        }
    )
    statuses = [e.status for e in exchanges]
    text = "; ".join(seen) if seen else "none seen"
    if 429 in statuses:
        text += f"; {statuses.count(429)} answers were 429"
    add(Check("rate limits", "ok", f"headers: {text}"))
