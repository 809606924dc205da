"""The transport: one aiohttp session that sends a request and reads its answer (docs/api.md).

It knows nothing of tokens, retries, pacing or what an answer means: it sends
bytes and returns an `Exchange`. Trouble (timeout, connection error, an answer
too large) comes back as `Exchange.problem`, never as an exception.

    async with Transport(base_url=url, timeout_s=30, connect_timeout_s=10,
                         max_body_bytes=8 << 20, connections=5) as transport:
        exchange = await transport.send("GET", "/orders/42", headers={"X-Api-Key": key})
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace, TracebackType
from typing import Any

import aiohttp

from pipeline.api.rate.pacer import SendStamp


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and what came back."""

    status: int | None  # None: no HTTP answer
    headers: Mapping[str, str] | None
    body: Any  # parsed JSON, text, or None
    text: str  # the body as received
    problem: str | None  # why there is no usable answer (timeout, connection, too large)
    latency_ms: float


def decode(data: bytes, content_type: str) -> tuple[Any, str]:
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


async def _restamp(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    """The request really left now (a new connection's first request leaves late)."""
    stamp = context.trace_request_ctx
    if isinstance(stamp, SendStamp):
        stamp.at = max(stamp.at, asyncio.get_running_loop().time())


class Transport:
    """Sends requests over one session. Build and use it inside the running event loop."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout_s: float,
        connect_timeout_s: float,
        max_body_bytes: int,
        connections: int,
        stamps: bool = True,
    ) -> None:
        self.base_url = base_url
        # Paced runs move each pacer stamp to when the headers are written (a trace hook);
        # an unpaced run has no stamps, and aiohttp's tracing costs ~15 us a request.
        self.stamps = stamps
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_body_bytes = max_body_bytes
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Transport:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s, connect=self.connect_timeout_s)
        connector = aiohttp.TCPConnector(limit=self.connections)
        tracing = aiohttp.TraceConfig()
        tracing.on_request_headers_sent.append(_restamp)
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            connector=connector,
            raise_for_status=False,
            trace_configs=[tracing] if self.stamps else None,
        )
        # aiohttp re-sends a GET or PUT by itself, at once, when a kept-alive connection
        # breaks under it (RFC 9112's retry): a request the pacer never gave a turn to and
        # the journal never saw (a third request in one second at --rate 2). Off: the
        # client's own retry (paced, journaled, counted) decides. No public option sets it.
        self._session._retry_connection = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str],
        stamp: SendStamp | None = None,
    ) -> Exchange:
        """One HTTP exchange; never raises for HTTP or network trouble.

        `stamp` (the pacer's) is moved to the moment the headers are written.
        """
        assert self._session is not None, "use Transport as an async context manager"
        started = time.perf_counter()
        status: int | None = None
        answer_headers: Mapping[str, str] | None = None
        decoded: Any = None
        text = ""
        problem: str | None = None
        try:
            async with self._session.request(
                method,
                self.base_url + path,
                params=params,
                json=body,
                headers=headers,
                allow_redirects=False,
                trace_request_ctx=stamp,
            ) as response:
                status, answer_headers = response.status, response.headers
                data = await self._read_limited(response)
                if data is None:
                    problem = f"answer larger than {self.max_body_bytes:,} bytes refused"
                else:
                    decoded, text = decode(data, response.content_type)
        except TimeoutError:
            problem = f"timeout after {self.timeout_s:g} s"
        except aiohttp.ClientError as error:
            problem = f"connection failed ({type(error).__name__})"
        latency_ms = (time.perf_counter() - started) * 1000
        return Exchange(status, answer_headers, decoded, text, problem, latency_ms)

    async def _read_limited(self, response: aiohttp.ClientResponse) -> bytes | None:
        """The whole body, or None once it passes `max_body_bytes` (never read further)."""
        limit = self.max_body_bytes
        if (response.content_length or 0) > limit:
            return None
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)
