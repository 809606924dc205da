"""Shared fixtures: a controllable clock and the sandbox on loopback (never a mock)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from pydantic import SecretStr

from pipeline.config.options import Options
from pipeline.config.settings import Environment, RunOptions, resolve_options
from pipeline.flows.run import RunResult
from pipeline.sandbox import (
    STATE,
    SandboxConfig,
    SandboxState,
    SandboxThread,
    create_app,
    load_orders,
    running_sandbox,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "sample_data"
# The sandbox stamps each arrival in a thread of the test process. On the loaded 2-core
# machine a stamp was seen up to ~0.15 s after the request left (the pacer keeps only
# 20 ms of room, pipeline.api.rate.pacer.WINDOW_MARGIN_S), which once squeezed 6 arrivals
# into 2 s at 5/2s. So wall-clock tests hold the exact bound on the send times the
# client logs (send_stamps) and count the arrivals over the window less this much:
# a burst at the server (a pacer that restarts full at a file boundary) still fails.
ARRIVAL_JITTER_S = 0.15
API_KEY, USERNAME, PASSWORD = "sandbox-key", "sandbox", "sandbox"


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class VirtualClock:
    """A pacer's clock (pipeline.api.rate.pacer.Clock) that moves only when the pacer sleeps
    (by exactly the time asked) or a test advances it: pacing tested without wall-clock
    waits and without patching asyncio.sleep."""

    def __init__(self, start: float = 0.0) -> None:
        self.now_s = start

    def now(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)  # a real turn of the loop: other senders run meanwhile


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Api:
    """A plain aiohttp client for poking the sandbox in its own tests."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, state: SandboxState) -> None:
        self.base_url, self.session, self.state = base_url, session, state
        self.token = ""

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Answer:
        sent = {"X-Api-Key": API_KEY, "Authorization": self.token}
        sent.update(headers or {})
        async with self.session.request(
            method, self.base_url + path, json=json_body, headers=sent, params=params
        ) as response:
            return Answer(response.status, dict(response.headers), await response.text())

    async def login(self, username: str = USERNAME, password: str = PASSWORD) -> Answer:
        answer = await self.call(
            "POST", "/login", json_body={"username": username, "password": password}
        )
        if answer.status == 200:
            self.token = answer.json()["token"]
        return answer

    def order(self, order_id: int) -> dict[str, Any]:
        order = self.state.order(order_id, touch=False)
        assert order is not None
        return order

    def first(self, status: str) -> int:
        """The ID of the first order with `status` and no cancellation request."""
        for order_id in self.state.store.ids():
            order = self.state.order(order_id, touch=False)
            if order and order["orderStatus"] == status and not order.get("cancelRequestedAt"):
                return order_id
        raise AssertionError(f"no {status} order in the sandbox")


# Modules whose tests share a module-scoped fixture too costly to build twice: under
# `make test`'s workers each runs whole on one worker (the benchmark smoke runs once).
ONE_WORKER_MODULES = {"tests/test_benchmarks_smoke.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup`, keeping each of ONE_WORKER_MODULES on one worker. (xdist's own
    grouping by the xdist_group mark does nothing on pytest 9.2: pytest-xdist#1386.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Scheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else super()._split_scope(nodeid)

    return Scheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first: the slow tests, those that say how long they take
    (`slow(seconds=...)`) in that order, before the others; otherwise in file order.
    With `make test`'s workers (pytest-xdist) the soaks start at once, side by side,
    instead of one starting last while the other workers sit idle."""

    def cost_s(item: pytest.Item) -> float:
        slow = item.get_closest_marker("slow")
        return 0.0 if slow is None else float(slow.kwargs.get("seconds", 1.0))

    items.sort(key=cost_s, reverse=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig()


@pytest.fixture
async def api(sandbox_config: SandboxConfig, clock: FakeClock) -> AsyncIterator[Api]:
    app = create_app(sandbox_config, clock=clock)
    async with running_sandbox(app) as base_url, aiohttp.ClientSession() as session:
        yield Api(base_url, session, app[STATE])


# --- end-to-end helpers: the sandbox in a thread, runs through the library ---------------

SAMPLE_ORDERS = SAMPLE_DATA / "sandbox_orders.jsonl"


@pytest.fixture(scope="session")
def sample_orders() -> list[dict[str, Any]]:
    return load_orders(SAMPLE_ORDERS)


@pytest.fixture
def fresh_orders(sample_orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A deep copy of the sample orders: sandboxes change their orders."""
    copied: list[dict[str, Any]] = json.loads(json.dumps(sample_orders))
    return copied


@pytest.fixture
def sandbox(
    request: pytest.FixtureRequest, fresh_orders: list[dict[str, Any]]
) -> Iterator[SandboxThread]:
    """The sandbox with the sample orders; parametrize indirectly with a SandboxConfig."""
    config = getattr(request, "param", SandboxConfig(cancel_delay_s=60))
    with SandboxThread(create_app(config, orders=fresh_orders)) as thread:
        yield thread


@pytest.fixture
def in_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxThread) -> Path:
    """A working directory with sample_data/, the QUIVO_* variables set for the sandbox:
    where the documentation's examples run as printed."""
    (tmp_path / "sample_data").symlink_to(SAMPLE_DATA)
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "QUIVO_BASE_URL": sandbox.base_url,
        "QUIVO_API_KEY": API_KEY,
        "QUIVO_USERNAME": USERNAME,
        "QUIVO_PASSWORD": PASSWORD,
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def env_for(
    sandbox: SandboxThread,
    *,
    api_key: str = API_KEY,
    username: str = USERNAME,
    password: str = PASSWORD,
) -> Environment:
    return Environment(
        base_url=sandbox.base_url,
        api_key=SecretStr(api_key),
        username=username,
        password=SecretStr(password),
        token=None,
    )


def options_for(target: SandboxThread | str, **given: Any) -> RunOptions:
    """Fast options for tests against a sandbox (or a base URL): high rate, tiny backoff."""
    base_url = target if isinstance(target, str) else target.base_url
    options = resolve_options(
        Options(**{"base_url": base_url, "rate": 500.0, "concurrency": 8, **given})
    )
    return replace(options, api=replace(options.api, backoff_base_s=0.01, backoff_cap_s=0.05))


def state_of(sandbox: SandboxThread) -> SandboxState:
    return sandbox.app[STATE]


def outcomes(result: RunResult) -> list[tuple[int, str, str | None]]:
    """(row, outcome, errorCode) for every row of a run."""
    return list(result.results.select("row", "outcome", "errorCode").iter_rows())


def order_ids(sandbox: SandboxThread, status: str, count: int) -> list[int]:
    """The first `count` orders with `status` and no cancellation request."""
    found = []
    for order_id in state_of(sandbox).store.ids():
        order = state_of(sandbox).order(order_id, touch=False)
        if order and order["orderStatus"] == status and not order.get("cancelRequestedAt"):
            found.append(order_id)
    return found[:count]


def comment_file(
    sandbox: SandboxThread, folder: Path, count: int, text: str
) -> tuple[Path, list[int]]:
    """An update file commenting `count` PROCESSING orders with `<text> <orderId>`."""
    ids = order_ids(sandbox, "PROCESSING", count)
    path = folder / "comments.csv"
    path.write_text("orderId,comment\n" + "".join(f"{i},{text} {i}\n" for i in ids))
    return path, ids


@pytest.fixture(scope="session")
def _chromium() -> Iterator[tuple[Browser, asyncio.AbstractEventLoop]]:
    """One headless chromium per test process (each xdist worker), launched at the first
    browser test: launching took ~3 s of each browser test.

    Playwright's sync API runs its event loop inside a greenlet of this thread, so while
    it is open asyncio sees that loop running here and every later asyncio test fails
    ("Cannot run the event loop while another loop is running": a known clash,
    microsoft/playwright-pytest#167). Between browser tests the loop is parked: this
    thread has no running loop, and `browser` hands it back for the length of its test.
    """
    from playwright.sync_api import sync_playwright

    from tests.ui_helpers import CHROMIUM

    assert CHROMIUM.exists(), "make test installs Debian's chromium; run 'make browser'"
    with sync_playwright() as driver:
        loop = asyncio.events._get_running_loop()
        assert loop is not None
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        asyncio.events._set_running_loop(None)
        try:
            yield launched, loop
        finally:
            asyncio.events._set_running_loop(loop)
            launched.close()


@pytest.fixture
def browser(_chromium: tuple[Browser, asyncio.AbstractEventLoop]) -> Iterator[Browser]:
    """Debian's chromium, headless, driven by playwright (the UI's browser tests): shared
    by the tests of a process; every context or page a test opens is closed after it, so
    no cookie, storage or download outlives its test."""
    launched, loop = _chromium
    asyncio.events._set_running_loop(loop)
    try:
        yield launched
    finally:
        try:
            for context in launched.contexts:
                context.close()
        finally:
            asyncio.events._set_running_loop(None)


@pytest.fixture
def page(browser: Browser) -> Page:
    """A fresh context (1280x800, downloads accepted) and page in the shared browser."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    return context.new_page()


def most_in_any_window(times: list[float], window_s: float, *, slack_s: float = 0.0) -> int:
    """The most of `times` (sorted) in any half-open window of `window_s` less `slack_s`."""
    span = window_s - slack_s
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= span:
            start += 1
        most = max(most, end - start + 1)
    return most


def send_stamps(log: str) -> list[float]:
    """When each request left, as the pacer logged it (`--log-level debug`), sorted: the
    same clock (time.monotonic) as the sandbox's arrivals."""
    return sorted(float(at) for at in re.findall(r"sent at ([0-9.]+)\)", log))
