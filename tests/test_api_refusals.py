"""Stop when the API says no for good; ride out a short gateway outage (issue 9,
docs/design/sending.md)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web
from pydantic import SecretStr

from pipeline.api.health import Outage, counts_as_failure
from pipeline.api.settings import ApiSettings
from pipeline.config.options import Options
from pipeline.config.settings import Environment, resolve_options
from pipeline.core.errors import OptionsError
from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app
from tests.conftest import env_for, options_for, order_ids, state_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def answering(status_for: Callable[[web.Request], int | None]) -> Any:
    """Sandbox middleware: answer `status_for(request)` instead of the API, when not None."""

    @web.middleware
    async def fault(request: web.Request, handler: Handler) -> web.StreamResponse:
        status = None if request.path.startswith("/_sandbox") else status_for(request)
        if status is not None:
            return web.Response(status=status, text=f"<html>{status}</html>")
        return await handler(request)

    return fault


def sandbox_with(fresh_orders: list[dict[str, object]], middleware: Any) -> SandboxThread:
    app = create_app(SandboxConfig(cancel_delay_s=60), orders=fresh_orders)
    app.middlewares.insert(0, middleware)
    return SandboxThread(app)


def cancel_file(sandbox: SandboxThread, folder: Path, count: int) -> Path:
    path = folder / "cancel.csv"
    ids = order_ids(sandbox, "PENDING", count // 2) + order_ids(sandbox, "PROCESSING", count)
    path.write_text("orderId\n" + "".join(f"{i}\n" for i in ids[:count]))
    return path


def test_a_token_refused_right_after_login_stops_the_run(
    tmp_path: Path, fresh_orders: list[dict[str, object]]
) -> None:
    """Wrong auth scheme: the login works, every other request is 401. Today: 13 logins."""
    refuse = answering(lambda request: None if request.path == "/login" else 401)
    with sandbox_with(fresh_orders, refuse) as sandbox:
        path = cancel_file(sandbox, tmp_path, 20)
        result = run_files(
            [path],
            options=options_for(sandbox, action="cancel"),
            env=env_for(sandbox),
            out=tmp_path / "r",
        )
        stats = state_of(sandbox).stats
        assert result.exit_code == 3
        assert "refused the token it had just issued" in result.summary.stopped
        assert stats.logins == 1
        assert stats.requests <= 1 + 8  # the login and the requests already in flight
        # Rows never sent are not_attempted; only requests in flight at the stop may be
        # `failed` (aborted: nobody can know whether they landed), and resume sends them.
        frame = result.results
        assert frame.filter(pl.col("outcome") == "not_attempted").height >= 20 - 8
        assert set(frame.filter(pl.col("outcome") != "not_attempted")["errorCode"]) <= {"aborted"}


def test_an_expired_static_token_leaves_unsent_rows_not_attempted(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    path = cancel_file(sandbox, tmp_path, 6)
    env = Environment(
        base_url=sandbox.base_url,
        api_key=SecretStr("sandbox-key"),
        username=None,
        password=None,
        token=SecretStr("expired-token"),
    )
    result = run_files(
        [path], options=options_for(sandbox, action="cancel"), env=env, out=tmp_path / "r"
    )
    assert result.exit_code == 3
    assert "QUIVO_TOKEN" in result.summary.stopped
    frame = result.results
    refused = frame.filter(pl.col("outcome") != "not_attempted")
    assert set(refused["errorCode"]) <= {"aborted"}  # never a failure of the row itself
    assert refused.height < frame.height  # the refused first call: not_attempted


def test_a_storm_of_403_stops_the_run(
    tmp_path: Path, fresh_orders: list[dict[str, object]]
) -> None:
    forbid = answering(lambda request: None if request.path == "/login" else 403)
    with sandbox_with(fresh_orders, forbid) as sandbox:
        path = cancel_file(sandbox, tmp_path, 60)
        options = replace(options_for(sandbox, action="cancel"), breaker=False)
        result = run_files([path], options=options, env=env_for(sandbox), out=tmp_path / "r")
        assert result.exit_code == 3
        assert result.summary.stopped.startswith("the API keeps refusing requests")
        assert result.summary.outcomes.get("not_attempted", 0) > 0


def test_a_short_gateway_outage_is_ridden_out(
    tmp_path: Path, fresh_orders: list[dict[str, object]]
) -> None:
    """503/502/504 for 1.5 s, two attempts per call: the run waits it out and finishes."""
    until = [0.0]
    statuses = [503, 502, 504]

    def gateway(request: web.Request) -> int | None:
        if time.monotonic() < until[0]:
            statuses.append(statuses.pop(0))
            return statuses[0]
        return None

    with sandbox_with(fresh_orders, answering(gateway)) as sandbox:
        path = cancel_file(sandbox, tmp_path, 10)
        options = options_for(sandbox, action="cancel", retries=1)
        options = replace(options, api=replace(options.api, outage_grace_s=5.0))
        until[0] = time.monotonic() + 1.5
        result = run_files([path], options=options, env=env_for(sandbox), out=tmp_path / "r")
        assert result.exit_code == 0, result.summary
        assert set(result.results["outcome"]) == {"applied"}
        assert result.summary.retries > 2  # the outage really was met


@pytest.mark.parametrize(
    ("answers", "at_s", "riding_out"),
    [
        ([(0.0, 503)], 59.0, True),  # a minute is ridden out...
        ([(0.0, 503)], 61.0, False),  # ...then the run may stop
        ([(0.0, 502), (30.0, None)], 50.0, True),  # no answer at all does not end it...
        ([(0.0, None)], 1.0, False),  # ...nor start one: timeouts are retried as usual
        ([(0.0, 504), (30.0, 200), (40.0, 503)], 90.0, True),  # an answer ended the first
        ([(0.0, 500)], 1.0, False),  # a 500 is the API, not a gateway: no grace
        ([(0.0, 401)], 1.0, False),
    ],
)
def test_the_outage_grace_by_table(
    answers: list[tuple[float, int | None]], at_s: float, riding_out: bool
) -> None:
    outage = Outage(grace_s=ApiSettings().outage_grace_s)
    for when, status in answers:
        outage.record(status, when)
    assert outage.riding_out(at_s) is riding_out


@pytest.mark.parametrize(
    ("status", "failure"),
    [(200, False), (404, False), (409, False), (401, False), (403, True), (429, True),
     (500, True), (503, True), (None, True)],
)  # fmt: skip
def test_what_counts_against_the_api_health(status: int | None, failure: bool) -> None:
    assert counts_as_failure(status) is failure


def test_rate_0_is_refused_for_a_real_api() -> None:
    with pytest.raises(OptionsError, match="unpaced"):
        resolve_options(Options(rate="0", base_url="https://api.quivo.co"))
    loopback = resolve_options(Options(rate="0", base_url="http://127.0.0.1:8787"))
    assert loopback.api.rate_per_s is None
