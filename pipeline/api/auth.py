"""Session tokens: one login however many requests see a 401 at once (docs/api.md).

A token lives one hour; it is renewed before that (`refresh_after_s`), and on
a 401 the caller asks `renew(stale=token)`: the first caller logs in, every
other caller with the same stale token waits for that login and reuses it.

    keeper = TokenKeeper(login=client_login, refresh_after_s=3000)
    token = await keeper.current()
    token = await keeper.renew(stale=token)  # after a 401

The clients of one run (its key lookups, then its sends, each in an event loop of
its own) share one `SessionToken`: the sends go on with the lookups' token, so a
run logs in once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipeline.core.errors import ApiUnusable


@dataclass
class SessionToken:
    """The token of the last login and what is known of it; shared by a run's clients."""

    token: str | None = None
    issued_at: float = float("-inf")
    proven: bool = False  # the API accepted it once
    credentials_proven: bool = False  # some token of this session was accepted once


class TokenKeeper:
    def __init__(
        self,
        *,
        login: Callable[[], Awaitable[str]] | None,
        static_token: str | None = None,
        refresh_after_s: float = 50 * 60,
        clock: Callable[[], float] = time.monotonic,
        session: SessionToken | None = None,
    ) -> None:
        if login is None and static_token is None:
            raise ValueError("TokenKeeper needs a login function or a static token")
        self._login = login
        self._session = SessionToken() if session is None else session
        if static_token and self._session.token is None:
            self._session.token, self._session.issued_at = static_token, clock()
            self._session.proven = True
        self._refresh_after_s = refresh_after_s
        self._clock = clock
        # One lock per keeper: a keeper (a client) lives in one event loop; a run's
        # clients share the token one after the other, never at once.
        self._lock = asyncio.Lock()
        self.logins = 0

    @property
    def _token(self) -> str | None:
        return self._session.token

    @property
    def credentials_proven(self) -> bool:
        """Some token of this session was accepted once: the credentials are right."""
        return self._session.credentials_proven

    def accepted(self, token: str | None) -> None:
        """The API answered a request made with `token` without refusing it."""
        if token is not None and token == self._token:
            self._session.proven = True
            self._session.credentials_proven = True

    def just_issued(self, token: str | None) -> bool:
        """True for a token from a login that the API has not accepted yet: refusing
        it means wrong credentials or the wrong auth scheme, not an expired token."""
        return token is not None and token == self._token and not self._session.proven

    @property
    def can_renew(self) -> bool:
        return self._login is not None

    async def current(self) -> str:
        """A live token: logs in first, and again once the token is near its hour."""
        token = self._token
        if token is None or (
            self.can_renew and self._clock() - self._session.issued_at >= self._refresh_after_s
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
            token = await self._login()
            self._session.token, self._session.proven = token, False
            self._session.issued_at = self._clock()
            self.logins += 1
            return token
