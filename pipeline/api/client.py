"""The Quivo API client: composes transport, tokens, retries, pacing and accounting (docs/api.md,
docs/design/sending.md).

Every attempt (logins, retries and refetches included) takes a pacing token
and an in-flight slot; a retry sleeps without holding a slot. Answers come
back as `Answer` values, never as exceptions: a refused change is data.

The pieces, each testable alone: `transport.Transport` sends bytes,
`retry.RetryPolicy` and `retry.retry_wait_s` decide whether and when to try
again (`verdict.classify` names what an answer means, and the
one retry loop, `QuivoClient._send`, acts on it), `auth.TokenKeeper` holds
the token, `pace.Pace` (a pacer and an adaptive rate, shared by every client
of a run or a sweep) paces, `accounting.Accounting` feeds each answer to
the health window and the adaptive rate, `answers` names the outcome.

    async with QuivoClient(config, credentials, observer=recorder) as client:
        answer = await client.call("PATCH", "/orders/42", body={"comment": "hi"}, order_id=42)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

from pipeline.api.accounting import Accounting
from pipeline.api.answers import Answer, error_message
from pipeline.api.auth import TokenKeeper
from pipeline.api.call import HALTED, Call, Halted, Tally
from pipeline.api.health import GATEWAY_STATUS, Health, Outage, TokenRefusals
from pipeline.api.payloads import LoginPayload
from pipeline.api.rate.pacer import turn_unless_stopped
from pipeline.api.rate.shared import Pace
from pipeline.api.retry import RetryPolicy
from pipeline.api.settings import ApiSettings, Credentials
from pipeline.api.transport import Exchange, Transport
from pipeline.api.verdict import Step, TokenState, classify
from pipeline.core.errors import ApiUnusable
from pipeline.core.outcomes import NOT_SENT, ErrorCode

__all__ = ["Answer", "QuivoClient", "RequestObserver", "error_message"]

log = logging.getLogger(__name__)

# The journal's note on a request the run stopped before it went out (it changed nothing).


class RequestObserver(Protocol):
    """Told about every attempt: the journal, the counters and the progress display."""

    async def sending(
        self, *, order_id: int | None, method: str, path: str, attempt: int, row: int | None
    ) -> int:
        """Record the request before it goes out; return its ID for `answered`."""
        ...

    def answered(
        self, request_id: int, *, status: int | None, error: str | None, latency_ms: float
    ) -> None: ...


def _is_object(body: Any) -> bool:
    return isinstance(body, dict)


class QuivoClient:
    """One run's connection to the API. Build and use it inside the running event loop."""

    def __init__(
        self,
        settings: ApiSettings,
        credentials: Credentials,
        *,
        observer: RequestObserver,
        stop: asyncio.Event | None = None,
        rand: random.Random | None = None,
        pace: Pace | None = None,
    ) -> None:
        self.settings = settings
        self.profile = settings.profile
        self._credentials = credentials
        self._observer = observer
        self.stop = stop or asyncio.Event()
        self.stop_reason: str | None = None
        self.finishing = False  # stopped by an interrupt: requests in flight finish
        self._slots = asyncio.Semaphore(settings.concurrency)
        # The pace (pacer and adaptive rate) may be shared with the run's other clients
        # and a sweep's other runs: the server sees one sender.
        pace = Pace.for_settings(settings) if pace is None else pace.follow(settings)
        self.pacer = pace.pacer
        self.accounting = Accounting(
            self.pacer,
            adaptive=pace.adaptive,
            health=Health(),
            outage=Outage(settings.outage_grace_s),
        )
        self.retry_policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            base_s=settings.backoff_base_s,
            cap_s=settings.backoff_cap_s,
            rand=(rand or random.Random()).random,
        )
        self._tokens = TokenKeeper(
            login=self._login if credentials.can_login else None,
            static_token=credentials.static_token(),
            refresh_after_s=settings.profile.refresh_after_s,
            session=pace.session,  # one login for the run's lookups and sends
        )
        self._transport = Transport(
            base_url=settings.base_url,
            timeout_s=settings.timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            max_body_bytes=settings.max_body_bytes,
            connections=settings.concurrency + 1,
            stamps=settings.rate_per_s is not None,
        )
        self.retries = 0
        self._sends = 0
        self._refusals = TokenRefusals()

    async def __aenter__(self) -> QuivoClient:
        await self._transport.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._transport.__aexit__(exc_type, exc, tb)

    @property
    def logins(self) -> int:
        return self._tokens.logins

    @property
    def throttled(self) -> int:
        return self.accounting.throttled

    def halt(self, reason: str, *, finish_in_flight: bool = False) -> None:
        """Stop the run's sending: calls not yet sent come back as `aborted`.
        `finish_in_flight` (an interrupt): requests in flight finish (see `call`)."""
        if self.stop_reason is None:
            log.warning("stopping: %s", reason)
            self.stop_reason = reason
            self.finishing = finish_in_flight
        self.stop.set()

    def interrupt(self, reason: str) -> None:
        """Ctrl-C, SIGTERM or the UI's Stop: halt, finishing what is in flight."""
        self.halt(reason, finish_in_flight=True)

    async def login(self) -> bool:
        """Make sure there is a live token (the first login); False if the run had to stop."""
        try:
            await self._tokens.current()
        except ApiUnusable as error:
            self.halt(str(error))
            return False
        return True

    async def _login(self) -> str:
        payload = LoginPayload(
            username=self._credentials.username or "",
            password=self._credentials.password_text(),
        ).model_dump()
        # A login answer without a token counts as mangled by a gateway: retried.
        request = self.profile.login_request(payload)
        answer = await self._send(
            Call(
                request.method,
                request.path,
                body=request.body,
                authenticated=False,
                accept=lambda body: self.profile.token_from(body) is not None,
            )
        )
        token = self.profile.token_from(answer.body)
        if answer.ok and token is not None:
            return token
        if answer.status in (401, 403):
            raise ApiUnusable(
                f"login refused ({error_message(answer.status, answer.body)}); check"
                " QUIVO_API_KEY, QUIVO_USERNAME and QUIVO_PASSWORD"
            )
        if answer.code is ErrorCode.ABORTED:
            raise ApiUnusable(self.stop_reason or "the run was stopped")
        message = answer.message
        if answer.status is not None:
            message = error_message(answer.status, answer.body)
        raise ApiUnusable(f"login failed: {message}")

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        order_id: int | None = None,
        row: int | None = None,
        expect_json: bool = False,
        after_stop: bool = False,
    ) -> Answer:
        """Send with retries; return the final answer. Never raises for HTTP trouble.
        `after_stop`: one attempt even after an interrupt (an answered change's refetch)."""
        return await self._send(
            Call(
                method,
                path,
                params=params,
                body=body,
                order_id=order_id,
                row=row,
                accept=_is_object if expect_json else None,
                after_stop=after_stop,
            )
        )

    async def _send(self, call: Call) -> Answer:
        """The one retry loop: attempts until an answer is final, the budget is spent,
        or the run stops. What each answer means is `verdict.classify`'s to say."""
        tally = Tally()
        while True:
            late = call.after_stop and self.finishing and tally.attempts == 0
            if self.stop.is_set() and not late:
                return tally.aborted(self.stop_reason or "stopped")
            token = await self._token_for(call)
            if isinstance(token, Halted):
                continue
            exchange = await self._attempt(call, token, tally.attempts + 1, late=late)
            if exchange.problem == NOT_SENT:
                continue  # the run stopped before it went out
            tally.count(exchange, refused=call.authenticated and exchange.status == 401)
            if call.authenticated and exchange.status not in (None, 401):
                self._tokens.accepted(token)
            verdict = classify(
                exchange, accept=call.accept, token=self._token_state(call, token, tally)
            )
            if verdict.step is Step.WRONG_CREDENTIALS:
                self.halt(
                    "the API refused the token it had just issued at login: wrong credentials"
                    " or the wrong auth scheme (check the API profile, quivo-bulk doctor)"
                )
            elif verdict.step is Step.RENEW:
                # The token expired: log in again (one login for every caller holding the
                # same stale token) and retry for free. It cannot loop: the first token is
                # renewed only once the API accepted it (a refused fresh one stops the
                # run); after that, a call renews at most max_attempts times, and each
                # token's refusal counts in the health window, which stops a storm of them.
                tally.renewed()
                await self._renew(token)
            elif verdict.step is Step.DONE:
                return tally.answer(verdict)
            else:
                if self._riding_out(exchange.status):
                    # A gateway outage younger than outage_grace_s: wait it out, with
                    # backoff, without using up the call's budget (the run stops once it
                    # lasts longer).
                    tally.tries = min(tally.tries, self.retry_policy.max_attempts - 1)
                if self.retry_policy.exhausted(tally.tries):
                    return tally.answer(verdict)
                self.retries += 1
                await asyncio.sleep(self.retry_policy.wait_s(tally.tries, verdict.retry_after_s))

    async def _token_for(self, call: Call) -> str | Halted | None:
        """The token for an attempt (None unauthenticated); `HALTED` if the run stopped."""
        if not call.authenticated:
            return None
        try:
            return await self._tokens.current()
        except ApiUnusable as error:
            self.halt(str(error))
            return HALTED

    def _token_state(self, call: Call, token: str | None, tally: Tally) -> TokenState:
        if not call.authenticated:
            return TokenState.NONE
        if self._tokens.just_issued(token) and not self._tokens.credentials_proven:
            return TokenState.UNPROVEN
        if tally.renewals < self.retry_policy.max_attempts:
            return TokenState.LIVE
        return TokenState.SPENT

    async def _renew(self, stale: str | None) -> None:
        try:
            await self._tokens.renew(stale=stale)
        except ApiUnusable as error:
            self.halt(str(error))

    def _riding_out(self, status: int | None) -> bool:
        outage = self.accounting.outage
        return status in GATEWAY_STATUS and outage.riding_out(time.monotonic())

    async def _attempt(
        self, call: Call, token: str | None, attempt: int, *, late: bool = False
    ) -> Exchange:
        """One attempt: journaled, paced, inside an in-flight slot, then accounted."""
        headers = self.profile.auth_headers(api_key=self._credentials.api_key_text(), token=token)
        async with self._slots:
            # Journal first (a row's change waits for its commit), pace last: the pacer's
            # log must hold the moment the request really leaves, or a slow commit could
            # squeeze rate+1 requests into one second at the server.
            request_id = await self._observer.sending(
                order_id=call.order_id,
                method=call.method,
                path=call.path,
                attempt=attempt,
                row=call.row,
            )
            try:
                turn = self.pacer.acquire() if late else turn_unless_stopped(self.pacer, self.stop)
                stamp = await turn  # a request the run will not send takes no turn
            except asyncio.CancelledError:  # stopped while waiting its turn: never sent
                self._observer.answered(request_id, status=None, error=NOT_SENT, latency_ms=0.0)
                raise
            if self.stop.is_set() and not late:
                self._observer.answered(request_id, status=None, error=NOT_SENT, latency_ms=0.0)
                return Exchange(None, None, None, "", NOT_SENT, 0.0)
            sent = self._sends  # requests are numbered as they leave (TokenRefusals)
            self._sends += 1
            exchange = await self._transport.send(
                call.method,
                call.path,
                params=call.params,
                body=call.body,
                headers=headers,
                stamp=stamp,
            )
        self._observer.answered(
            request_id,
            status=exchange.status,
            error=exchange.problem,
            latency_ms=exchange.latency_ms,
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %s in %.0f ms (attempt %d, sent at %.6f)",
                call.method,
                call.path,
                exchange.status if exchange.problem is None else exchange.problem,
                exchange.latency_ms,
                attempt,
                stamp.at if stamp is not None else float("nan"),
            )
        if exchange.status is not None and exchange.problem is not None:
            # An unreadable answer counts as no answer.
            exchange = Exchange(
                None,
                exchange.headers,
                exchange.body,
                exchange.text,
                exchange.problem,
                exchange.latency_ms,
            )
        # 401s that token expiry cannot explain count in the health window (health.py).
        refused = self._refusals.answered(token, exchange.status, sent=sent, next_send=self._sends)
        reason = self.accounting.record(exchange.status, refused_tokens=refused)
        if reason is not None:
            self.halt(reason)
        return exchange
