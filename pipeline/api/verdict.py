"""What to do with one answer: finish, retry after a wait, renew the token, or stop.

A pure function of the exchange and what the caller knows about its token, so
the client's retry loop stays short and every branch is tested with a table
(tests/test_api_pieces.py):

    verdict = classify(exchange, accept=None, token=TokenState.LIVE)
    verdict.step  # Step.RETRY for a 503, Step.DONE for a 2xx or a 404
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.api.answers import error_code, error_message, is_success
from pipeline.api.retry import retry_wait_s
from pipeline.api.transport import Exchange
from pipeline.core.outcomes import ErrorCode

NOT_JSON_OBJECT = "the answer is not the expected JSON object"


class Step(enum.Enum):
    DONE = "done"  # final: success, or an error no retry can change
    RETRY = "retry"  # try again after a wait (the budget permitting)
    RENEW = "renew"  # the token expired: log in again and retry for free
    WRONG_CREDENTIALS = "wrong_credentials"  # a token the API just issued is refused


class TokenState(enum.Enum):
    """What the caller knows about the token the request carried."""

    NONE = "none"  # an unauthenticated request (the login itself)
    LIVE = "live"  # renewable: a 401 means it expired
    SPENT = "spent"  # the call renewed as often as its budget allows
    UNPROVEN = "unproven"  # just issued, and no token of the session was accepted yet


@dataclass(frozen=True, slots=True)
class Verdict:
    step: Step
    code: ErrorCode | None = None  # None: success
    message: str = ""
    retry_after_s: float | None = None  # the server's Retry-After, when it sent one


DONE = Verdict(Step.DONE)


def classify(
    exchange: Exchange, *, accept: Callable[[Any], bool] | None, token: TokenState
) -> Verdict:
    """The verdict on one attempt's exchange.

    `accept` says whether a 2xx body is the one expected; one that is not is
    retried as a bad response (a gateway may have mangled it).
    """
    status = exchange.status
    if status == 401 and token is TokenState.UNPROVEN:
        return Verdict(Step.WRONG_CREDENTIALS)
    if status == 401 and token is TokenState.LIVE:
        return Verdict(Step.RENEW)
    if is_success(status):
        if accept is None or accept(exchange.body):
            return DONE
        return Verdict(Step.RETRY, ErrorCode.BAD_RESPONSE, NOT_JSON_OBJECT)
    retryable, retry_after_s = retry_wait_s(status, exchange.headers)
    code = error_code(status, exchange.problem)
    message = exchange.problem if status is None else None
    return Verdict(
        Step.RETRY if retryable else Step.DONE,
        code,
        message or error_message(status, exchange.body),
        retry_after_s,
    )
