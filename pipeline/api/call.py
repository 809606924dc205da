"""One API call as the client's retry loop sees it: what to send (`Call`) and
what its attempts added up to (`Tally`), which becomes the call's `Answer`.

    tally = Tally()
    tally.count(exchange, refused=False)
    answer = tally.answer(classify(exchange, accept=None, token=TokenState.LIVE))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.api.answers import Answer
from pipeline.api.transport import Exchange
from pipeline.api.verdict import Verdict
from pipeline.core.outcomes import ErrorCode


@dataclass(frozen=True, slots=True)
class Call:
    """One API call as the retry loop sends it."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Any = None
    order_id: int | None = None
    row: int | None = None
    authenticated: bool = True
    accept: Callable[[Any], bool] | None = None  # is a 2xx body the one expected?
    after_stop: bool = False  # one attempt even after an interrupt


class Halted:
    """No token: the run stopped while getting one."""


HALTED = Halted()


@dataclass(slots=True)
class Tally:
    """One call's counts across its attempts."""

    attempts: int = 0  # sent, renewals included
    tries: int = 0  # counted against the retry budget
    renewals: int = 0
    refused: int = 0  # answered 401: refused unread, changed nothing
    last: Exchange | None = None

    def count(self, exchange: Exchange, *, refused: bool) -> None:
        self.attempts += 1
        self.tries += 1
        self.refused += refused
        self.last = exchange

    def renewed(self) -> None:
        self.tries -= 1
        self.renewals += 1

    def answer(self, verdict: Verdict) -> Answer:
        assert self.last is not None
        last = self.last
        if verdict.code is None:
            return Answer(
                last.status, last.body, None, "", self.attempts, last.latency_ms, last.text
            )
        return Answer(
            last.status, last.body, verdict.code, verdict.message, self.attempts, last.latency_ms
        )

    def aborted(self, reason: str) -> Answer:
        # Attempts the API refused unread (401) changed nothing: a row whose every attempt
        # was refused so is `not_attempted`, never `failed`.
        last = self.last
        return Answer(
            None if last is None else last.status,
            None if last is None else last.body,
            ErrorCode.ABORTED,
            reason,
            self.attempts - self.refused,
            None if last is None else last.latency_ms,
        )
