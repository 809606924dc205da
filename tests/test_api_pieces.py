"""The client's pieces, each alone: retry policy, accounting, transport."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.api.accounting import UNHEALTHY, Accounting
from pipeline.api.health import Health
from pipeline.api.rate.adaptive import AdaptiveRate
from pipeline.api.rate.pacer import Pacer
from pipeline.api.retry import RetryPolicy, retry_wait_s
from pipeline.api.transport import Exchange, Transport
from pipeline.api.verdict import Step, TokenState, classify
from pipeline.core.outcomes import ErrorCode
from pipeline.sandbox import SandboxThread
from tests.conftest import API_KEY, FakeClock


@pytest.mark.parametrize(
    ("tries", "retry_after_s", "wait_s"),
    [
        (1, None, 0.25),  # half of base * 2**0
        (3, None, 1.0),  # half of base * 2**2
        (10, None, 2.5),  # half of the cap
        (2, 7.0, 7.0),  # the server's Retry-After wins
        (2, 0.0, 0.0),
    ],
)
def test_the_retry_policy_waits(tries: int, retry_after_s: float | None, wait_s: float) -> None:
    policy = RetryPolicy(max_attempts=3, base_s=0.5, cap_s=5.0, rand=lambda: 0.5)
    assert policy.wait_s(tries, retry_after_s) == pytest.approx(wait_s)


def test_the_retry_budget_counts_tries() -> None:
    policy = RetryPolicy(max_attempts=3, base_s=0.5, cap_s=5.0, rand=lambda: 0.5)
    assert [policy.exhausted(t) for t in (1, 2, 3, 4)] == [False, False, True, True]


@pytest.mark.parametrize(
    ("status", "headers", "verdict"),
    [
        (None, None, (True, None)),
        (503, {"Retry-After": "3"}, (True, 3.0)),
        (429, {}, (True, None)),
        (409, {"Retry-After": "3"}, (False, None)),
        (401, None, (False, None)),
    ],
)
def test_the_retry_predicate(
    status: int | None, headers: dict[str, str] | None, verdict: tuple[bool, float | None]
) -> None:
    assert retry_wait_s(status, headers) == verdict


async def test_accounting_lowers_the_rate_on_429_and_counts_it() -> None:
    clock = FakeClock()
    pacer = Pacer(100.0)
    accounting = Accounting(pacer, adaptive=AdaptiveRate(100.0), health=Health(), clock=clock)
    for _ in range(10):
        assert accounting.record(200) is None
        clock.advance(0.01)
    assert accounting.record(429) is None
    assert accounting.throttled == 1
    assert pacer.rate_per_s is not None
    assert pacer.rate_per_s < 100.0


async def test_accounting_says_stop_when_most_attempts_fail() -> None:
    accounting = Accounting(Pacer(None), adaptive=None, health=Health(minimum=5), clock=FakeClock())
    reasons = [accounting.record(status) for status in (200, 503, None, 502, 504)]
    assert reasons == [None, None, None, None, UNHEALTHY]


async def test_the_transport_returns_trouble_as_data(sandbox: SandboxThread) -> None:
    async with Transport(
        base_url=sandbox.base_url,
        timeout_s=5,
        connect_timeout_s=5,
        max_body_bytes=1 << 20,
        connections=1,
    ) as transport:
        refused = await transport.send("GET", "/orders", headers={})
        listed = await transport.send(
            "POST",
            "/login",
            body={"username": "x", "password": "y"},
            headers={"X-Api-Key": API_KEY},
        )
    gone = Transport(
        base_url="http://127.0.0.1:9", timeout_s=1, connect_timeout_s=1,
        max_body_bytes=1 << 20, connections=1,
    )  # fmt: skip
    async with gone:
        nothing = await gone.send("GET", "/orders", headers={})
    answers: list[Any] = [
        (refused.status, refused.body),
        (listed.status, listed.problem),
        (nothing.status, nothing.problem),
    ]
    assert answers == [
        (403, {"message": "Forbidden"}),
        (401, None),
        (None, "connection failed (ClientConnectorError)"),
    ]


# --- verdict.classify: what the retry loop does with each answer ----------------------


def _exchange(
    status: int | None, body: object = None, headers: dict[str, str] | None = None
) -> Exchange:
    problem = "timeout after 30 s" if status is None else None
    return Exchange(status, headers, body, "", problem, 1.0)


@pytest.mark.parametrize(
    ("status", "token", "step", "code"),
    [
        (200, TokenState.LIVE, Step.DONE, None),
        (204, TokenState.NONE, Step.DONE, None),
        (404, TokenState.LIVE, Step.DONE, ErrorCode.ORDER_NOT_FOUND),
        (409, TokenState.LIVE, Step.DONE, ErrorCode.STATUS_CONFLICT),
        (400, TokenState.LIVE, Step.DONE, ErrorCode.REJECTED),
        (429, TokenState.LIVE, Step.RETRY, ErrorCode.RATE_LIMITED),
        (503, TokenState.LIVE, Step.RETRY, ErrorCode.SERVER_ERROR),
        (408, TokenState.LIVE, Step.RETRY, ErrorCode.TIMEOUT),
        (None, TokenState.LIVE, Step.RETRY, ErrorCode.TIMEOUT),
        (401, TokenState.LIVE, Step.RENEW, None),
        (401, TokenState.UNPROVEN, Step.WRONG_CREDENTIALS, None),
        (401, TokenState.SPENT, Step.DONE, ErrorCode.UNAUTHORIZED),
        (401, TokenState.NONE, Step.DONE, ErrorCode.UNAUTHORIZED),
    ],
)
def test_classify_names_the_next_step(
    status: int | None, token: TokenState, step: Step, code: ErrorCode | None
) -> None:
    verdict = classify(_exchange(status, {"message": "x"}), accept=None, token=token)
    assert (verdict.step, verdict.code) == (step, code)


def test_classify_retries_a_2xx_body_that_is_not_the_expected_one() -> None:
    verdict = classify(
        _exchange(200, "<html>"), accept=lambda b: isinstance(b, dict), token=TokenState.LIVE
    )
    assert (verdict.step, verdict.code) == (Step.RETRY, ErrorCode.BAD_RESPONSE)
    assert (
        classify(
            _exchange(200, {}), accept=lambda b: isinstance(b, dict), token=TokenState.LIVE
        ).step
        is Step.DONE
    )


def test_classify_carries_retry_after_and_a_readable_message() -> None:
    verdict = classify(
        _exchange(429, {"message": "slow down"}, {"Retry-After": "7"}),
        accept=None,
        token=TokenState.LIVE,
    )
    assert verdict.retry_after_s == 7.0
    assert verdict.message == "HTTP 429: slow down"
    assert (
        classify(_exchange(None), accept=None, token=TokenState.LIVE).message
        == "timeout after 30 s"
    )
