"""The UI's security model as one aiohttp middleware (docs/guide/operations.md).

1. Host: a request whose Host header is not the loopback address and port the
   UI serves is refused (421), so a DNS-rebound name cannot reach it.
2. Token: the URL printed at start carries `?token=...`; the first request
   with it sets a `SameSite=Strict`, HttpOnly cookie and redirects to the same
   path without it (the token leaves the address bar and the history). Every
   other request needs that cookie (403 otherwise).
3. CSRF: anything but GET/HEAD also needs the token in the `X-Quivo-Token`
   header, which a cross-site form cannot send; a GET never changes state.
4. Every response: no caching, no framing, no referrer, scripts from self only.

    app = web.Application(middlewares=[guard(token=new_token())])
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

COOKIE = "quivo_ui"
HEADER = "X-Quivo-Token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


def new_token() -> str:
    """A random token: 32 bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def served_port(request: web.Request) -> int | None:
    """The port this connection came in on."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else None


def served_hosts(request: web.Request) -> frozenset[str]:
    """The Host headers a browser sends for the address this connection came in on."""
    port = served_port(request)
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"}) if port else frozenset()


def cookie_name(request: web.Request) -> str:
    """Cookies ignore ports: two UIs on one machine each keep their own cookie."""
    return f"{COOKIE}_{served_port(request)}"


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _refuse(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers=HEADERS)


def guard(*, token: str) -> Middleware:
    """The middleware: Host check, token (URL once, then cookie), token header on state changes."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.host not in served_hosts(request):
            return _refuse(421, "this address is not the one quivo-bulk ui serves; use its URL")
        given = request.query.get("token")
        if given is not None and request.method in SAFE_METHODS:
            if not _same(given, token):
                return _refuse(403, "wrong token: open the URL that 'quivo-bulk ui' printed")
            query = {k: v for k, v in request.query.items() if k != "token"}
            target = request.rel_url.with_query(query)
            response = web.Response(status=303, headers={**HEADERS, "Location": str(target)})
            response.set_cookie(
                cookie_name(request), token, httponly=True, samesite="Strict", path="/"
            )
            return response
        if not _same(request.cookies.get(cookie_name(request)), token):
            return _refuse(
                403, "no access: open the URL with the token that 'quivo-bulk ui' printed"
            )
        if request.method not in SAFE_METHODS and not _same(request.headers.get(HEADER), token):
            return _refuse(403, "a change needs the page's token header; reload the page")
        answer = await handler(request)
        answer.headers.update(HEADERS)
        return answer

    return middleware
