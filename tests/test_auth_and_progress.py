"""Tokens (one login for many 401s, renewal before the hour) and the progress display."""

from __future__ import annotations

import asyncio
import io

import pytest

from pipeline.api.auth import TokenKeeper
from pipeline.core.errors import ApiUnusable
from pipeline.core.outcomes import Outcome
from pipeline.send.progress import Progress, RichBar, StatusLines, make_progress
from tests.conftest import FakeClock


def counting_login() -> tuple[list[int], object]:
    calls: list[int] = []

    async def login() -> str:
        calls.append(1)
        await asyncio.sleep(0.01)  # a real round trip takes time: others pile up meanwhile
        return f"token-{len(calls)}"

    return calls, login


async def test_many_concurrent_401s_cause_one_login() -> None:
    calls, login = counting_login()
    keeper = TokenKeeper(login=login)  # type: ignore[arg-type]
    first = await keeper.current()
    renewed = await asyncio.gather(*[keeper.renew(stale=first) for _ in range(50)])
    assert set(renewed) == {"token-2"}
    assert len(calls) == 2


async def test_the_token_is_renewed_before_its_hour_is_up() -> None:
    clock = FakeClock()
    _, login = counting_login()
    keeper = TokenKeeper(login=login, refresh_after_s=3000, clock=clock)  # type: ignore[arg-type]
    assert await keeper.current() == "token-1"
    clock.advance(2999)
    assert await keeper.current() == "token-1"
    clock.advance(1)
    assert await keeper.current() == "token-2"
    assert keeper.logins == 2


async def test_a_static_token_cannot_be_renewed() -> None:
    keeper = TokenKeeper(login=None, static_token="fixed")
    assert await keeper.current() == "fixed"
    with pytest.raises(ApiUnusable, match="QUIVO_TOKEN"):
        await keeper.renew(stale="fixed")


def test_status_lines_without_a_terminal() -> None:
    stream = io.StringIO()
    progress = StatusLines(3, stream=stream)
    with progress:
        progress.request()
        progress.rows([Outcome.APPLIED, Outcome.FAILED])
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("progress: 2/3 rows, 1 ok, 1 not ok, 1 requests")


def test_the_display_follows_the_terminal() -> None:
    assert type(make_progress(5, interactive=False)) is StatusLines
    assert type(make_progress(5, interactive=True)) is RichBar
    assert type(make_progress(5, interactive=True, quiet=True)) is Progress
