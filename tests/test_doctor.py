"""`quivo-bulk doctor` (docs/api.md): read-only checks, the setting to change, exit 0/1/3."""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from pipeline.api.doctor import stated_ttl_s, token_candidates
from pipeline.cli import main
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app
from pipeline.sandbox.config import Faults
from tests.conftest import order_ids, state_of

KEY, USER, PASSWORD = "doctor-api-key-5f1e", "doctor-user", "doctor-password-9c2a"
DOCUMENTED = SandboxConfig(api_key=KEY, username=USER, password=PASSWORD)
THREE_WAYS_OFF = replace(
    DOCUMENTED, auth_scheme="bearer", token_field="accessToken", get_order=False
)
SETTING = re.compile(r"\b(auth_scheme|token_field|token_ttl_s|read|verify) = ")


def recorder(seen: list[tuple[str, str]]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A sandbox middleware that notes every request's method and path."""

    @web.middleware
    async def note(
        request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        seen.append((request.method, request.path))
        return await handler(request)

    return note


def doctor(sandbox: SandboxThread | str, *args: str, **variables: str) -> Result:
    base_url = sandbox if isinstance(sandbox, str) else sandbox.base_url
    env = {"QUIVO_API_KEY": KEY, "QUIVO_USERNAME": USER, "QUIVO_PASSWORD": PASSWORD}
    return CliRunner().invoke(main, ["doctor", "--base-url", base_url, *args], env=env | variables)


def settings_named(output: str) -> set[str]:
    return {match.group(1) for match in SETTING.finditer(output)}


def serve(config: SandboxConfig, orders: list[dict[str, Any]], seen: list[tuple[str, str]]) -> Any:
    app = create_app(config, orders=orders)
    app.middlewares.insert(0, recorder(seen))
    return SandboxThread(app)


def test_doctor_names_exactly_the_three_settings_an_api_differs_in(
    fresh_orders: list[dict[str, Any]],
) -> None:
    seen: list[tuple[str, str]] = []
    with serve(THREE_WAYS_OFF, fresh_orders, seen) as sandbox:
        order = order_ids(sandbox, "PROCESSING", 1)[0]
        result = doctor(sandbox, "--order", str(order))
        tokens = set(state_of(sandbox).tokens)
        stats = state_of(sandbox).stats
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    differs = [line for line in lines if line.startswith("differs")]
    assert len(differs) == 2
    assert 'set token_field = "accessToken"' in result.output
    assert 'set auth_scheme = "bearer"' in result.output
    assert settings_named(result.output) == {"auth_scheme", "token_field", "read", "verify"}
    get_line = next(line for line in lines if "GET one order" in line)
    assert 'keep read = "refetch" and verify = "refetch"' in get_line
    assert not any(line.startswith("failed") for line in lines)
    # Read-only: nothing but the login, GETs, and the one refetch --order asked for.
    writes = [(method, path) for method, path in seen if method != "GET"]
    assert writes == [("POST", "/login"), ("POST", f"/orders/{order}/refetch")]
    assert sum(stats.accepted_mutations.values()) == 0
    for secret in (KEY, PASSWORD, *tokens):
        assert secret not in result.output


def test_with_the_settings_it_named_doctor_finds_everything_as_assumed(
    fresh_orders: list[dict[str, Any]],
) -> None:
    seen: list[tuple[str, str]] = []
    with serve(THREE_WAYS_OFF, fresh_orders, seen) as sandbox:
        result = doctor(sandbox, QUIVO_AUTH_SCHEME="bearer", QUIVO_TOKEN_FIELD="accessToken")
        auth_failures = dict(state_of(sandbox).stats.auth_failures)
    assert result.exit_code == 0, result.output
    assert "differs" not in result.output
    assert auth_failures == {}  # the right scheme first: no refused probe
    assert [w for w in seen if w[0] != "GET"] == [("POST", "/login")]  # no --order: no refetch


def test_the_documented_api_passes_every_check(fresh_orders: list[dict[str, Any]]) -> None:
    seen: list[tuple[str, str]] = []
    with serve(DOCUMENTED, fresh_orders, seen) as sandbox:
        order = order_ids(sandbox, "PENDING", 1)[0]
        result = doctor(sandbox, "--order", str(order))
    assert result.exit_code == 0, result.output
    verdicts = [line.split()[0] for line in result.output.splitlines()[1:]]
    assert set(verdicts) == {"ok"}
    assert settings_named(result.output) == set()
    assert "has the fields verification reads" in result.output
    assert [w for w in seen if w[0] not in ("GET",)] == [
        ("POST", "/login"),
        ("POST", f"/orders/{order}/refetch"),
    ]


def test_a_search_without_last_modified_names_stale_check(
    fresh_orders: list[dict[str, Any]],
) -> None:
    """apply's batched staleness check needs lastModified in the search answers."""
    without = replace(DOCUMENTED, faults=Faults(no_modified_share=1.0))
    with serve(without, fresh_orders, []) as sandbox:
        result = doctor(sandbox)
        kept = doctor(sandbox, QUIVO_STALE_CHECK="read")
    assert result.exit_code == 1, result.output
    line = next(x for x in result.output.splitlines() if "search lastModified" in x)
    assert line.startswith("differs")
    assert 'set stale_check = "read"' in line
    assert kept.exit_code == 0, kept.output
    with serve(DOCUMENTED, fresh_orders, []) as sandbox:
        carried = doctor(sandbox)
    line = next(x for x in carried.output.splitlines() if "search lastModified" in x)
    assert line.startswith("ok")
    assert "checks staleness in batches" in line


def test_a_get_read_against_an_api_without_it_names_read_and_verify(
    fresh_orders: list[dict[str, Any]],
) -> None:
    with serve(replace(DOCUMENTED, get_order=False), fresh_orders, []) as sandbox:
        result = doctor(sandbox, QUIVO_READ="get", QUIVO_VERIFY="get")
    assert result.exit_code == 1, result.output
    assert 'set read = "refetch", verify = "refetch"' in result.output


def test_a_refused_login_exits_3_without_the_password(fresh_orders: list[dict[str, Any]]) -> None:
    with serve(DOCUMENTED, fresh_orders, []) as sandbox:
        result = doctor(sandbox, QUIVO_PASSWORD="wrong-password-x")
    assert result.exit_code == 3, result.output
    assert "failed  login" in result.output
    assert "wrong-password-x" not in result.output


def test_an_unreachable_api_exits_3() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    result = doctor(f"http://127.0.0.1:{port}")
    assert result.exit_code == 3, result.output
    assert "failed  base URL" in result.output


def test_missing_credentials_are_a_usage_error() -> None:
    result = CliRunner().invoke(
        main, ["doctor", "--base-url", "http://127.0.0.1:9"], env={"QUIVO_API_KEY": "k"}
    )
    assert result.exit_code == 2
    assert "QUIVO_USERNAME" in result.output


@pytest.mark.parametrize(
    ("answer", "candidates"),
    [
        ({"token": "abcdefgh12"}, ["token"]),
        ({"accessToken": "abcdefgh12", "user": "me"}, ["accessToken"]),
        ({"data": {"jwt_token": "abcdefgh12"}}, ["data.jwt_token"]),
        ({"session": "0123456789abcdef0123", "user": "me"}, ["session"]),
        ({"user": "me"}, []),
        ("not an object", []),
    ],
)
def test_token_candidates(answer: Any, candidates: list[str]) -> None:
    assert token_candidates(answer) == candidates


@pytest.mark.parametrize(
    ("answer", "ttl"),
    [
        ({"token": "t", "expiresIn": 1800}, 1800.0),
        ({"data": {"expires_in": 600}}, 600.0),
        ({"token": "t"}, None),
        ({"expiresIn": "soon"}, None),
    ],
)
def test_a_stated_token_lifetime_is_found(answer: Any, ttl: float | None) -> None:
    assert stated_ttl_s(answer) == ttl


@pytest.mark.parametrize(("config", "exit_code"), [(DOCUMENTED, 0), (THREE_WAYS_OFF, 1)])
def test_a_static_token_is_checked_without_a_login(
    config: SandboxConfig, exit_code: int, fresh_orders: list[dict[str, Any]]
) -> None:
    seen: list[tuple[str, str]] = []
    with serve(config, fresh_orders, seen) as sandbox:
        state = state_of(sandbox)
        state.tokens["static-token-for-doctor"] = state.clock() + 3600
        env = {"QUIVO_API_KEY": KEY, "QUIVO_TOKEN": "static-token-for-doctor"}
        result = CliRunner().invoke(main, ["doctor", "--base-url", sandbox.base_url], env=env)
    assert result.exit_code == exit_code, result.output
    assert "skipped login" in result.output
    assert ("POST", "/login") not in seen
    assert "static-token-for-doctor" not in result.output
    assert ('set auth_scheme = "bearer"' in result.output) == (config is THREE_WAYS_OFF)


def test_a_refused_static_token_exits_3(fresh_orders: list[dict[str, Any]]) -> None:
    with serve(DOCUMENTED, fresh_orders, []) as sandbox:
        env = {"QUIVO_API_KEY": KEY, "QUIVO_TOKEN": "expired-token-x"}
        result = CliRunner().invoke(main, ["doctor", "--base-url", sandbox.base_url], env=env)
    assert result.exit_code == 3, result.output
    assert "failed  auth scheme" in result.output
    assert "expired-token-x" not in result.output


def test_a_refetch_without_a_field_verification_reads_differs(
    fresh_orders: list[dict[str, Any]],
) -> None:
    order = fresh_orders[0]
    del order["trackingEnabled"]
    with serve(DOCUMENTED, fresh_orders, []) as sandbox:
        result = doctor(sandbox, "--order", str(order["orderId"]))
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if "refetch" in line)
    assert line.startswith("differs")
    assert "lacks trackingEnabled" in line
