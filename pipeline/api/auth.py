"""Session tokens: one login however many requests see a 401 at once (SPEC §2).

A token lives one hour; it is renewed before that (`refresh_after_s`), and on
a 401 the caller asks `renew(stale=token)`: the first caller logs in, every
other caller with the same stale token waits for that login and reuses it.

    keeper = TokenKeeper(login=client_login, refresh_after_s=3000)
    token = await keeper.current()
    token = await keeper.renew(stale=token)  # after a 401
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pipeline.errors import ApiUnusable


class TokenKeeper:
    def __init__(
        self,
        *,
        login: Callable[[], Awaitable[str]] | None,
        static_token: str | None = None,
        refresh_after_s: float = 50 * 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if login is None and static_token is None:
            raise ValueError("TokenKeeper needs a login function or a static token")
        self._login = login
        self._token = static_token
        self._issued_at = clock() if static_token else float("-inf")
        self._refresh_after_s = refresh_after_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self.logins = 0
        self._proven = static_token is not None  # the current token was accepted once
        self.credentials_proven = False  # some token of this keeper was accepted once

    def accepted(self, token: str | None) -> None:
        """The API answered a request made with `token` without refusing it."""
        if token is not None and token == self._token:
            self._proven = True
            self.credentials_proven = True

    def just_issued(self, token: str | None) -> bool:
        """True for a token from a login that the API has not accepted yet: refusing
        it means wrong credentials or the wrong auth scheme, not an expired token."""
        return token is not None and token == self._token and not self._proven

    @property
    def can_renew(self) -> bool:
        return self._login is not None

    async def current(self) -> str:
        """A live token: logs in first, and again once the token is near its hour."""
        token = self._token
        if token is None or (
            self.can_renew and self._clock() - self._issued_at >= self._refresh_after_s
        ):
            return await self.renew(stale=token)
        return token

    async def renew(self, *, stale: str | None) -> str:
        """Log in again unless another caller already replaced `stale`."""
        async with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            if self._login is None:
                raise ApiUnusable(
                    "the API refused the token from QUIVO_TOKEN (expired or wrong);"
                    " set a fresh one, or set QUIVO_USERNAME and QUIVO_PASSWORD instead"
                )
            self._token = await self._login()
            self._proven = False
            self._issued_at = self._clock()
            self.logins += 1
            return self._token
