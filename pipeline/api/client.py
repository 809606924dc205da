"""The Quivo API client: one aiohttp session, paced, capped, retried (SPEC §2, §5).

Every attempt (logins, retries and refetches included) takes a pacing token
and an in-flight slot; a retry sleeps without holding a slot. Answers come
back as `Answer` values, never as exceptions: a refused change is data.

    async with QuivoClient(config, credentials, observer=recorder) as client:
        answer = await client.call("PATCH", "/orders/42", body={"comment": "hi"}, order_id=42)
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import aiohttp

from pipeline.api.auth import TokenKeeper
from pipeline.api.pacing import Pacer
from pipeline.api.payloads import LoginPayload
from pipeline.api.retry import backoff_s, retry_wait_s
from pipeline.api.throttle import AdaptiveRate, adaptive_rate_for
from pipeline.errors import ApiUnusable
from pipeline.outcomes import ErrorCode
from pipeline.settings import ApiSettings, Credentials

log = logging.getLogger(__name__)

# Logins one call may ask for after a 401 (tokens live an hour; a call lasts seconds).
MAX_RENEWALS_PER_CALL = 3

CODE_BY_STATUS = {
    400: ErrorCode.REJECTED,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.ORDER_NOT_FOUND,
    409: ErrorCode.STATUS_CONFLICT,
    429: ErrorCode.RATE_LIMITED,
}
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Answer:
    """The final answer to one call, after retries."""

    status: int | None  # None: no HTTP answer (timeout, connection error, stopped)
    body: Any  # parsed JSON, text, or None
    code: ErrorCode | None  # None when the call succeeded
    message: str
    attempts: int
    latency_ms: float | None  # of the last attempt
    text: str = ""  # the body as received

    @property
    def ok(self) -> bool:
        return self.code is None


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


class Health:
    """Is the API usable? False once most recent attempts failed with 5xx or no answer."""

    def __init__(self, *, window: int = 50, minimum: int = 20, failing_share: float = 0.8) -> None:
        self._recent: deque[bool] = deque()
        self._window, self._minimum, self._failing_share = window, minimum, failing_share
        self._failures = 0  # among _recent, kept as it changes (record runs per request)

    def record(self, *, failed: bool) -> bool:
        """Add one attempt; return True when the API now counts as unusable."""
        self._recent.append(failed)
        self._failures += failed
        if len(self._recent) > self._window:
            self._failures -= self._recent.popleft()
        seen = len(self._recent)
        return seen >= self._minimum and self._failures >= self._failing_share * seen


def error_message(status: int | None, body: Any) -> str:
    """A one-line message from an error body of any shape (text, JSON, HTML)."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text = body["message"]
    elif isinstance(body, dict | list):
        text = json.dumps(body, ensure_ascii=False)
    elif isinstance(body, str) and body.lstrip().startswith("<"):
        text = _TAGS.sub(" ", body)
    else:
        text = str(body or "")
    text = _SPACE.sub(" ", text).strip()[:300]
    prefix = f"HTTP {status}" if status else "no answer"
    return f"{prefix}: {text}" if text else prefix


def _decode(data: bytes, content_type: str) -> tuple[Any, str]:
    """(parsed JSON or text, the text): the text is kept so a fetched order can be
    journaled as it came, without encoding it again."""
    if not data:
        return None, ""
    text = data.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text), text
        except json.JSONDecodeError:
            return text, text
    return text, text


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
    ) -> None:
        self.settings = settings
        self._credentials = credentials
        self._observer = observer
        self.stop = stop or asyncio.Event()
        self.stop_reason: str | None = None
        self._rand = rand or random.Random()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self.pacer = Pacer(settings.rate_per_s, period_s=settings.rate_period_s)
        self._adaptive = adaptive_rate_for(settings)
        if self._adaptive is not None and self._adaptive.start_per_s is not None:
            self.pacer.set_rate(self._adaptive.current_per_s)  # auto: start low
        self._health = Health()
        self._tokens = TokenKeeper(
            login=self._login if credentials.can_login else None,
            static_token=credentials.static_token(),
            refresh_after_s=settings.token_refresh_s,
        )
        self._session: aiohttp.ClientSession | None = None
        self.retries = 0
        self.throttled = 0

    @property
    def adaptive_rate(self) -> AdaptiveRate | None:
        """The run's rate controller (None when unpaced)."""
        return self._adaptive

    async def __aenter__(self) -> QuivoClient:
        timeout = aiohttp.ClientTimeout(
            total=self.settings.timeout_s, connect=self.settings.connect_timeout_s
        )
        connector = aiohttp.TCPConnector(limit=self.settings.concurrency + 1)
        self._session = aiohttp.ClientSession(
            timeout=timeout, connector=connector, raise_for_status=False
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def logins(self) -> int:
        return self._tokens.logins

    def halt(self, reason: str) -> None:
        """Stop the run's sending: calls not yet sent come back as `aborted`."""
        if self.stop_reason is None:
            log.warning("stopping: %s", reason)
            self.stop_reason = reason
        self.stop.set()

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
        tries = 0
        while True:
            tries += 1
            status, headers, body, _, problem, _ = await self._attempt(
                "POST", "/login", None, payload, None, None, tries
            )
            if status in (401, 403):
                raise ApiUnusable(
                    f"login refused ({error_message(status, body)}); check QUIVO_API_KEY,"
                    " QUIVO_USERNAME and QUIVO_PASSWORD"
                )
            token = body.get("token") if isinstance(body, dict) else None
            if status == 200 and isinstance(token, str) and token:
                return token
            retryable, wait_s = retry_wait_s(status, headers)
            if status == 200:
                retryable = True  # a login answer without a token: the gateway mangled it
            if self.stop.is_set():
                raise ApiUnusable(self.stop_reason or "the run was stopped")
            if not retryable or tries >= self.settings.max_attempts:
                raise ApiUnusable(f"login failed: {problem or error_message(status, body)}")
            await asyncio.sleep(self._wait_s(tries, wait_s))

    def _wait_s(self, tries: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return retry_after_s
        return backoff_s(
            tries,
            base_s=self.settings.backoff_base_s,
            cap_s=self.settings.backoff_cap_s,
            rand=self._rand.random,
        )

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        token: str | None,
        order_id: int | None,
        attempt: int,
        row: int | None = None,
    ) -> tuple[int | None, Mapping[str, str] | None, Any, str, str | None, float]:
        """One HTTP exchange: (status, headers, decoded body, body text, problem, latency_ms)."""
        assert self._session is not None, "use QuivoClient as an async context manager"
        headers = {"X-Api-Key": self._credentials.api_key_text()}
        if token is not None:
            headers["Authorization"] = token
        async with self._slots:
            # Journal first (a row's change waits for its commit), pace last: the pacer's
            # log must hold the moment the request really leaves, or a slow commit could
            # squeeze rate+1 requests into one second at the server.
            request_id = await self._observer.sending(
                order_id=order_id, method=method, path=path, attempt=attempt, row=row
            )
            await self.pacer.acquire()
            started = time.perf_counter()
            status: int | None = None
            answer_headers: Mapping[str, str] | None = None
            decoded: Any = None
            text = ""
            problem: str | None = None
            try:
                async with self._session.request(
                    method,
                    self.settings.base_url + path,
                    params=params,
                    json=body,
                    headers=headers,
                    allow_redirects=False,
                ) as response:
                    status, answer_headers = response.status, response.headers
                    data = await self._read_limited(response)
                    if data is None:
                        problem = (
                            f"answer larger than {self.settings.max_body_bytes:,} bytes refused"
                        )
                    else:
                        decoded, text = _decode(data, response.content_type)
            except TimeoutError:
                problem = f"timeout after {self.settings.timeout_s:g} s"
            except aiohttp.ClientError as error:
                problem = f"connection failed ({type(error).__name__})"
            latency_ms = (time.perf_counter() - started) * 1000
        self._observer.answered(request_id, status=status, error=problem, latency_ms=latency_ms)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %s in %.0f ms (attempt %d)",
                method,
                path,
                status if problem is None else problem,
                latency_ms,
                attempt,
            )
        if status is not None and problem is not None:
            status = None  # an unreadable answer counts as no answer
        self._account(status)
        return status, answer_headers, decoded, text, problem, latency_ms

    async def _read_limited(self, response: aiohttp.ClientResponse) -> bytes | None:
        """The whole body, or None once it passes `max_body_bytes` (never read further)."""
        limit = self.settings.max_body_bytes
        if (response.content_length or 0) > limit:
            return None
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _account(self, status: int | None) -> None:
        failed = status is None or status >= 500
        if self._health.record(failed=failed):
            self.halt("the API keeps failing (most recent requests got 5xx or no answer)")
        if self._adaptive is None:
            return
        if status == 429:
            self.throttled += 1
        new_rate = self._adaptive.on_answer(time.monotonic(), throttled=status == 429)
        if new_rate is not None:
            log.info("sending rate now %.2f requests/s", new_rate)
            self.pacer.set_rate(new_rate)

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
    ) -> Answer:
        """Send with retries; return the final answer. Never raises for HTTP trouble."""
        attempts, tries, renewals = 0, 0, 0
        last: tuple[int | None, Any, str | None, float | None] = (None, None, None, None)
        while True:
            if self.stop.is_set():
                return Answer(
                    last[0],
                    last[1],
                    ErrorCode.ABORTED,
                    self.stop_reason or "stopped",
                    attempts,
                    last[3],
                )
            try:
                token = await self._tokens.current()
            except ApiUnusable as error:
                self.halt(str(error))
                continue
            attempts += 1
            tries += 1
            status, headers, body_answer, text, problem, latency_ms = await self._attempt(
                method, path, params, body, token, order_id, attempts, row
            )
            last = (status, body_answer, problem, latency_ms)
            if status == 401 and renewals < MAX_RENEWALS_PER_CALL:
                # The token expired: log in again (one login for every caller holding the
                # same stale token) and retry for free. A long call can outlive several
                # tokens; a bounded number of renewals keeps refused credentials from looping.
                tries -= 1
                renewals += 1
                try:
                    await self._tokens.renew(stale=token)
                except ApiUnusable as error:
                    self.halt(str(error))
                continue
            if status is not None and 200 <= status < 300:
                if not expect_json or isinstance(body_answer, dict):
                    return Answer(status, body_answer, None, "", attempts, latency_ms, text)
                problem = "the answer is not the expected JSON object"
                retryable, wait_s = True, None
                code = ErrorCode.BAD_RESPONSE
            else:
                retryable, wait_s = retry_wait_s(status, headers)
                code = self._code(status, problem)
            if not retryable or tries >= self.settings.max_attempts:
                message = problem if status is None or code is ErrorCode.BAD_RESPONSE else None
                return Answer(
                    status,
                    body_answer,
                    code,
                    message or error_message(status, body_answer),
                    attempts,
                    latency_ms,
                )
            self.retries += 1
            await asyncio.sleep(self._wait_s(tries, wait_s))

    @staticmethod
    def _code(status: int | None, problem: str | None) -> ErrorCode:
        if status is None:
            if problem and problem.startswith("timeout"):
                return ErrorCode.TIMEOUT
            if problem and problem.startswith("answer larger"):
                return ErrorCode.BAD_RESPONSE
            return ErrorCode.NETWORK
        if status in CODE_BY_STATUS:
            return CODE_BY_STATUS[status]
        if status == 408:
            return ErrorCode.TIMEOUT
        if status >= 500:
            return ErrorCode.SERVER_ERROR
        return ErrorCode.REJECTED
