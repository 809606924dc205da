"""Network safety: redirects, timeouts, huge and chunked bodies, base URLs, error shapes.

Each case runs a small real aiohttp server on loopback; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from pipeline.api.answers import error_message
from pipeline.api.client import QuivoClient
from pipeline.api.settings import ApiSettings, Credentials
from pipeline.config.settings import check_base_url
from pipeline.core.errors import OptionsError
from pipeline.core.outcomes import ErrorCode
from pipeline.sandbox.serve import running_sandbox

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CREDENTIALS = Credentials(api_key=SecretStr("key-123"), token=SecretStr("token-456"))


@dataclass
class Recorder:
    requests: list[str] = field(default_factory=list)

    async def sending(self, **_: Any) -> int:
        return 0

    def answered(self, request_id: int, **_: Any) -> None:
        return None


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with running_sandbox(app) as base_url:
        yield base_url


def settings(base_url: str, **changes: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "base_url": base_url,
        "rate_per_s": None,
        "max_attempts": 2,
        "backoff_base_s": 0.01,
        "timeout_s": 5.0,
    }
    return ApiSettings(**(values | changes))


async def call(base_url: str, **changes: Any) -> Any:
    async with QuivoClient(
        settings(base_url, **changes), CREDENTIALS, observer=Recorder()
    ) as client:
        return await client.call("POST", "/orders/1/refetch", order_id=1, expect_json=True)


async def test_a_redirect_to_another_host_is_not_followed_with_credentials() -> None:
    seen: list[dict[str, str]] = []

    async def elsewhere(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        return web.json_response({"orderId": 1})

    async with serve(elsewhere) as other:

        async def redirect(request: web.Request) -> web.StreamResponse:
            raise web.HTTPTemporaryRedirect(f"{other}/steal")

        async with serve(redirect) as base_url:
            answer = await call(base_url)
    assert seen == []
    assert answer.code is ErrorCode.REJECTED
    assert answer.status == 307


async def test_every_request_has_a_timeout() -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2)
        return web.json_response({})

    async with serve(slow) as base_url:
        answer = await call(base_url, timeout_s=0.2)
    assert answer.code is ErrorCode.TIMEOUT
    assert answer.attempts == 2
    assert answer.message == "timeout after 0.2 s"


async def test_a_huge_body_is_refused_not_read_into_memory() -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(20):
            await response.write(b" " * (1 << 20))  # no Content-Length: streamed
        await response.write_eof()
        return response

    async with serve(huge) as base_url:
        answer = await call(base_url, max_body_bytes=4 << 20)
    assert answer.code is ErrorCode.BAD_RESPONSE
    assert "larger than 4,194,304 bytes" in answer.message


async def test_a_declared_huge_body_is_refused_before_reading() -> None:
    async def declared(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * (5 << 20), content_type="application/json")

    async with serve(declared) as base_url:
        answer = await call(base_url, max_body_bytes=1 << 20)
    assert answer.code is ErrorCode.BAD_RESPONSE


async def test_a_body_in_several_chunks_is_read_whole() -> None:
    body = json.dumps({"orderId": 1, "comment": "x" * 200_000}).encode()

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for start in range(0, len(body), 50_000):
            await response.write(body[start : start + 50_000])
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    async with serve(chunked) as base_url:
        answer = await call(base_url)
    assert answer.ok
    assert len(answer.body["comment"]) == 200_000


async def test_a_closed_port_is_a_network_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = await call(f"http://127.0.0.1:{port}")
    assert answer.code is ErrorCode.NETWORK
    assert answer.status is None


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://api.quivo.co", "https://api.quivo.co"),
        ("https://api.quivo.co/", "https://api.quivo.co"),
        ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
        ("http://127.5.5.5:1", "http://127.5.5.5:1"),
        ("http://localhost:8787/", "http://localhost:8787"),
        ("http://[::1]:8787", "http://[::1]:8787"),
        ("http://api.quivo.co", None),
        ("http://10.0.0.5", None),
        ("ftp://api.quivo.co", None),
        ("https://user:secret@api.quivo.co", None),
        ("api.quivo.co", None),
    ],
)
def test_base_urls_are_https_unless_loopback(url: str, accepted: str | None) -> None:
    if accepted is None:
        with pytest.raises(OptionsError) as caught:
            check_base_url(url)
        assert "secret" not in str(caught.value)
    else:
        assert check_base_url(url) == accepted


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            400,
            "comment: size must be between 0 and 250",
            "HTTP 400: comment: size must be between 0 and 250",
        ),
        (409, {"message": "Order 1 is COMPLETED"}, "HTTP 409: Order 1 is COMPLETED"),
        (500, {"error": "boom", "code": 7}, 'HTTP 500: {"error": "boom", "code": 7}'),
        (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "HTTP 502: 502 Bad Gateway"),
        (503, None, "HTTP 503"),
        (None, None, "no answer"),
        (400, "x" * 1000, "HTTP 400: " + "x" * 300),
    ],
)
def test_error_bodies_of_every_shape_become_one_line(
    status: int | None, body: Any, message: str
) -> None:
    assert error_message(status, body) == message


def one_use_tokens(*, refuse_all: bool = False, busy: int = 2) -> Handler:
    """A server whose tokens expire after one use; the first `busy` good requests get 503."""
    used: set[str] = set()
    issued = [0]
    failures = [0]

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/login":
            issued[0] += 1
            return web.json_response({"token": f"t{issued[0]}"})
        token = request.headers.get("Authorization", "")
        if refuse_all:
            return web.json_response({"message": "Unauthorized"}, status=401)
        if token in used:
            return web.json_response({"message": "The incoming token has expired"}, status=401)
        used.add(token)
        if failures[0] < busy:
            failures[0] += 1
            return web.json_response({"message": "busy"}, status=503)
        return web.json_response({"orderId": 1, "token": token})

    return handler


async def test_a_call_that_outlives_several_tokens_logs_in_again_each_time() -> None:
    credentials = Credentials(api_key=SecretStr("key-123"), username="u", password=SecretStr("pw"))
    async with serve(one_use_tokens()) as base_url:
        config = settings(base_url, max_attempts=5)
        async with QuivoClient(config, credentials, observer=Recorder()) as client:
            answer = await client.call("POST", "/orders/1/refetch", expect_json=True)
            logins = client.logins
    assert answer.ok, answer.message
    assert answer.body["token"] == "t3"  # expired twice within the one call
    assert logins == 3


async def test_a_call_riding_out_an_outage_outlives_more_tokens_than_it_has_tries_left() -> None:
    """The kill -9 soak's row 1356: 503s, timeouts and four expiries in one 36 s call.
    More renewals than the old fixed cap of three, and still one login per expiry."""
    credentials = Credentials(api_key=SecretStr("key-123"), username="u", password=SecretStr("pw"))
    async with serve(one_use_tokens(busy=5)) as base_url:
        config = settings(base_url, max_attempts=7)
        async with QuivoClient(config, credentials, observer=Recorder()) as client:
            answer = await client.call("POST", "/orders/1/refetch", expect_json=True)
            logins = client.logins
    assert answer.ok, answer.message
    assert answer.body["token"] == "t6"  # expired five times within the one call
    assert logins == 6


async def test_refused_tokens_stop_after_a_bounded_number_of_logins() -> None:
    credentials = Credentials(api_key=SecretStr("key-123"), username="u", password=SecretStr("pw"))
    async with (
        serve(one_use_tokens(refuse_all=True)) as base_url,
        QuivoClient(settings(base_url), credentials, observer=Recorder()) as client,
    ):
        answer = await client.call("POST", "/orders/1/refetch", expect_json=True)
        logins = client.logins
    # A token refused right after the login that issued it: wrong credentials or the
    # wrong auth scheme. The run stops at once instead of logging in again and again.
    assert answer.code is ErrorCode.ABORTED
    assert answer.attempts == 0  # the refused attempt changed nothing
    assert logins == 1
    assert "refused the token it had just issued" in (client.stop_reason or "")
