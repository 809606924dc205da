"""What a call comes back with: the final `Answer`, its error code and one-line message.

A refused change is data, not an exception: every call ends in an `Answer`
whose `code` is None on success (any 2xx) and an `ErrorCode` otherwise.

    code = error_code(404, None)          # ErrorCode.ORDER_NOT_FOUND
    error_message(502, "<html>...</html>")  # "HTTP 502: 502 Bad Gateway 502"
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pipeline.core.outcomes import ErrorCode

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


def is_success(status: int | None) -> bool:
    """Any 2xx is success; the API's documented codes (200, 204) are examples, not a list."""
    return status is not None and 200 <= status < 300


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


def error_code(status: int | None, problem: str | None) -> ErrorCode:
    """The error code of a failed attempt: by HTTP status, or by why there was no answer."""
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
