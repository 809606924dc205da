"""`--rate` values, exact counts per period, the pacer's bounds and the CUBIC controller:
pure functions with tables (docs/design/sending.md, docs/rates.md)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from pipeline.api.rate.adaptive import AdaptiveRate, cubic_per_s, slow_start_per_s
from pipeline.api.rate.pacer import WINDOW_MARGIN_S, Pacer, bounds_for
from pipeline.api.rate.shared import Pace
from pipeline.api.rate.spec import RateChoice, parse_rate
from pipeline.api.settings import ApiSettings
from pipeline.config.options import Options
from pipeline.config.settings import resolve_options
from pipeline.core.errors import OptionsError
from pipeline.store.ratememo import resumed_rate
from tests.conftest import VirtualClock


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", RateChoice(5, 1.0)),
        (5.0, RateChoice(5, 1.0)),
        ("2.5", RateChoice(5, 2.0)),  # exact: not 2 per second
        (2.5, RateChoice(5, 2.0)),
        ("1.5", RateChoice(3, 2.0)),
        ("0.1", RateChoice(1, 10.0)),
        ("100/min", RateChoice(100, 60.0)),
        ("5/2s", RateChoice(5, 2.0)),
        ("10/500ms", RateChoice(10, 0.5)),
        ("3600/h", RateChoice(3600, 3600.0)),
        ("0", RateChoice(None)),
        ("auto", RateChoice(50, 1.0, auto=True)),
        ("AUTO:200", RateChoice(200, 1.0, auto=True)),
        ("auto:100/min", RateChoice(100, 60.0, auto=True)),
    ],
)
def test_parse_rate(value: str | float, expected: RateChoice) -> None:
    assert parse_rate(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fast", "is not a rate; use N"),
        ("-3", "is negative"),
        ("0.333333", "needs a period over an hour to be exact"),
        ("0/min", "give a positive count per period"),
        ("5/2d", "is not a rate"),
        ("auto:0", "auto needs a positive MAX, e.g. auto:100"),
    ],
)
def test_parse_rate_refuses_with_what_to_do(value: str, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        parse_rate(value)


def test_resolve_options_keeps_the_period_and_auto() -> None:
    api = resolve_options(Options(rate="100/min")).api
    assert (api.rate_per_s, api.rate_period_s, api.rate_auto) == (pytest.approx(100 / 60), 60, 0)
    api = resolve_options(Options(rate="auto")).api
    assert (api.rate_per_s, api.rate_auto) == (50.0, True)
    loopback = Options(rate=0, base_url="http://127.0.0.1:8787")  # unpaced: loopback only
    assert resolve_options(loopback).api.rate_per_s is None


@pytest.mark.parametrize(
    ("count", "period_s", "expected"),
    [
        (50, 1.0, [(50, 1.0)]),
        (5, 2.0, [(5, 2.0), (3, 1.0)]),  # 2.5/s: 5 per 2 s and at most 3 in any second
        (100, 60.0, [(100, 60.0), (2, 1.0)]),
        (20, 0.5, [(20, 0.5)]),
    ],
)
def test_bounds_for_a_count_per_period(
    count: int, period_s: float, expected: list[tuple[int, float]]
) -> None:
    assert bounds_for(count, period_s) == expected


def _k(limit: float, beta: float = 0.7, c: float = 0.4) -> float:
    return math.cbrt(limit * (1 - beta) / c)


@pytest.mark.parametrize(
    ("since_s", "expected"),
    [
        (0.0, 70.0),  # rule 5: beta x W at the epoch
        (_k(100) / 2, 100 - 0.4 * (_k(100) / 2) ** 3),  # rule 6: concave climb
        (_k(100) - 0.01, 97.0),  # capped at settle x W
        (_k(100) + 10.0, 97.0),  # rule 7: hold
        (_k(100) + 15.0 + 2.0, 97.0 + 0.4 * 8),  # then probe on the convex curve
    ],
)
def test_cubic_curve_after_a_429(since_s: float, expected: float) -> None:
    rate = cubic_per_s(limit_per_s=100, since_s=since_s, beta=0.7, c=0.4, settle=0.97, hold_s=15)
    assert rate == pytest.approx(expected)


@pytest.mark.parametrize(("since_s", "expected"), [(0, 5), (1, 10), (2.5, 5 * 2**2.5)])
def test_slow_start_doubles_every_second(since_s: float, expected: float) -> None:
    assert slow_start_per_s(start_per_s=5, since_s=since_s, double_s=1.0) == pytest.approx(expected)


def _accept(rate: AdaptiveRate, start: float, stop: float, per_s: float) -> float | None:
    """Feed accepted answers at `per_s` from `start` to `stop`; return the last change."""
    last = None
    now = start
    while now < stop:
        change = rate.on_answer(now, throttled=False)
        last = change if change is not None else last
        now += 1 / per_s
    return last


def test_rule_1_fixed_mode_starts_and_stays_at_the_ceiling() -> None:
    rate = AdaptiveRate(ceiling_per_s=20)
    assert rate.current_per_s == 20
    assert _accept(rate, 0, 5, 20) is None
    assert rate.current_per_s == 20


def test_rule_2_auto_starts_low_and_doubles_each_second_up_to_the_ceiling() -> None:
    rate = AdaptiveRate(ceiling_per_s=50, start_per_s=5)
    assert rate.current_per_s == 5
    rate.on_answer(0.0, throttled=False)
    _accept(rate, 0.2, 1.0, 5)
    assert rate.current_per_s == pytest.approx(5 * 2**0.8, rel=0.05)
    _accept(rate, 1.0, 4.0, 40)
    assert rate.current_per_s == 50  # rule 1: never above the ceiling


def test_rule_3_the_record_of_accepted_answers_holds_one_second() -> None:
    rate = AdaptiveRate(ceiling_per_s=200)
    _accept(rate, 0, 100, 200)  # 20,000 answers
    assert rate.accepted_last_second(100.0) <= 201
    assert len(rate._accepted) <= 201


@pytest.mark.parametrize(
    ("accepted_per_s", "current", "expected"),
    [
        (20, 100, 0.7 * 20),  # rule 5: W = what the server accepted
        (80, 60, 0.7 * 60),  # W = the rate, when the server took more (other clients left)
    ],
)
def test_rule_5_a_429_drops_to_beta_times_the_limit_found(
    accepted_per_s: float, current: float, expected: float
) -> None:
    rate = AdaptiveRate(ceiling_per_s=current)
    _accept(rate, 0, 1.0, accepted_per_s)
    assert rate.on_answer(1.0, throttled=True) == pytest.approx(expected, rel=0.06)
    assert rate.found_per_s == pytest.approx(expected / 0.7, rel=0.06)


def test_rule_4_a_burst_of_429s_counts_once() -> None:
    rate = AdaptiveRate(ceiling_per_s=100)
    _accept(rate, 0, 1.0, 20)
    changes = [rate.on_answer(t, throttled=True) for t in (1.0, 1.2, 1.9, 2.1)]
    assert changes[0] == pytest.approx(14.0, rel=0.06)
    assert changes[1:3] == [None, None]
    assert changes[3] is not None  # after the cooldown: a new decrease
    assert changes[3] < changes[0]


def test_rules_6_and_7_climb_back_settle_below_the_limit_then_probe() -> None:
    rate = AdaptiveRate(ceiling_per_s=100)
    _accept(rate, 0, 1.0, 20)
    rate.on_answer(1.0, throttled=True)
    found = rate.found_per_s
    assert found is not None
    _accept(rate, 1.0, 1.0 + _k(found) + 5, 19)
    assert rate.current_per_s == pytest.approx(0.97 * found, rel=0.011)  # settled
    _accept(rate, 1.0 + _k(found) + 5, 1.0 + _k(found) + 15, 19)
    assert rate.current_per_s == pytest.approx(0.97 * found, rel=0.011)  # still holding
    assert rate.settled_per_s() == pytest.approx(0.97 * found)
    _accept(rate, 1.0 + _k(found) + 15, 1.0 + _k(found) + 18, 19)
    assert rate.current_per_s > 0.99 * found  # probing for a higher limit


def test_rule_8_never_above_twice_what_the_server_accepts() -> None:
    rate = AdaptiveRate(ceiling_per_s=1000, start_per_s=5)
    rate.on_answer(0.0, throttled=False)
    rate.on_answer(5.0, throttled=False)  # slow start alone would be 160/s
    assert rate.current_per_s == 5  # two answers in the last second: no reason to go faster


def test_rule_9_small_moves_are_not_reported() -> None:
    rate = AdaptiveRate(ceiling_per_s=1000, start_per_s=100)
    _accept(rate, 0, 1.0, 100)
    reported = [rate.on_answer(1.0 + i * 0.001, throttled=False) for i in range(5)]
    assert reported.count(None) >= 4  # 5 ms of slow start moves the rate by < 1%


def test_the_floor_holds_when_nothing_is_accepted() -> None:
    rate = AdaptiveRate(ceiling_per_s=10, floor_per_s=0.5)
    for second in range(12):
        rate.on_answer(float(second) * 2, throttled=True)  # nothing accepted: halve
    assert rate.current_per_s == 0.5


def _sends(
    pacer_args: tuple[float, float],
    count: int,
    *,
    set_rate_after: tuple[int, float] | None = None,
) -> list[float]:
    """Send times of `count` sends through a Pacer on a virtual clock."""
    clock = VirtualClock()

    async def main() -> list[float]:
        rate_per_s, period_s = pacer_args
        pacer = Pacer(rate_per_s, period_s=period_s, clock=clock)
        times = []
        for number in range(count):
            if set_rate_after is not None and number == set_rate_after[0]:
                pacer.set_rate(set_rate_after[1])
            await pacer.acquire()
            times.append(clock.now())
        return times

    return asyncio.run(main())


def _most_in_window(times: list[float], window_s: float) -> int:
    most, start = 0, 0
    for end, sent in enumerate(times):
        while sent - times[start] >= window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.parametrize(
    ("rate", "count", "windows"),
    [
        ((50.0, 1.0), 500, [(1.0, 50)]),
        ((200.0, 1.0), 2000, [(1.0, 200)]),
        ((2.5, 2.0), 60, [(2.0, 5), (1.0, 3)]),  # --rate 2.5 = 5/2s
        ((100 / 60, 60.0), 300, [(60.0, 100), (1.0, 2)]),  # --rate 100/min
    ],
)
def test_the_pacer_reaches_98_percent_and_keeps_every_window(
    rate: tuple[float, float],
    count: int,
    windows: list[tuple[float, int]],
) -> None:
    times = _sends(rate, count)
    for window_s, cap in windows:
        assert _most_in_window(times, window_s) <= cap
    achieved = (count - 1) / (times[-1] - times[0])
    assert achieved >= rate[0] / (1 + WINDOW_MARGIN_S / rate[1]) * 0.999  # the margin's cost
    assert achieved <= rate[0] * 1.001


def test_an_adapted_rate_is_not_rounded_down_and_a_decrease_does_not_stall() -> None:
    times = _sends((10.0, 1.0), 120, set_rate_after=(100, 1.8))
    after = times[101:]
    achieved = (len(after) - 1) / (after[-1] - after[0])
    assert achieved == pytest.approx(1.8, rel=0.01)  # not 1 per second
    assert _most_in_window(after, 1.0) <= 2
    assert times[100] - times[99] < 1.1  # the 1-s window only: no multi-second stop


def test_rule_2_a_known_limit_starts_in_the_hold_just_below_it_not_in_slow_start() -> None:
    rate = AdaptiveRate(ceiling_per_s=60, start_per_s=5, known_limit_per_s=20)
    assert rate.current_per_s == pytest.approx(0.97 * 20)  # the first request goes at it
    assert rate.settled_per_s() == pytest.approx(0.97 * 20)
    _accept(rate, 0, 14.5, 19)
    assert rate.current_per_s == pytest.approx(0.97 * 20)  # rule 7: held, not doubled
    _accept(rate, 14.5, 18, 19)
    assert rate.current_per_s > 0.99 * 20  # then probes for a higher limit
    assert rate.on_answer(18.0, throttled=True) is not None  # and backs off on a 429 (rule 5)


@pytest.mark.parametrize(
    ("found", "expected_start", "expected_known"),
    [
        (None, None, None),  # nothing journaled: the run's own start
        ({"auto": True, "final_per_s": 18.0, "found_per_s": 20.0, "settled_per_s": 19.4},
         None, 20.0),  # a 429 showed the limit: hold just below it
        ({"auto": True, "final_per_s": 16.0, "found_per_s": None, "settled_per_s": 16.0},
         16.0, None),  # still in slow start: go on from where it was
        ({"auto": False, "final_per_s": 5.0, "found_per_s": None, "settled_per_s": 5.0},
         None, None),  # the earlier session had a fixed rate
    ],
)  # fmt: skip
def test_resume_continues_at_the_rate_its_sessions_found(
    found: dict[str, Any] | None, expected_start: float | None, expected_known: float | None
) -> None:
    options = resolve_options(Options(rate="auto:60"))
    api = resumed_rate(options, found).api
    assert (api.rate_start_per_s, api.rate_known_limit_per_s) == (expected_start, expected_known)
    fixed = resolve_options(Options(rate="10"))
    assert resumed_rate(fixed, found) == fixed  # `resume --rate 10`: the rate given


def _sends_in_loops(rates: list[str], per_loop: int) -> list[float]:
    """Send times through one shared Pace, `per_loop` sends (two senders at once) in each
    of a series of event loops, one loop per rate: a sweep's files, on a virtual clock."""
    clock = VirtualClock()
    settings = [resolve_options(Options(rate=rate)).api for rate in rates]
    pace = Pace.for_settings(settings[0], clock=clock)
    times: list[float] = []

    async def file(api: ApiSettings) -> None:
        pacer = pace.follow(api).pacer

        async def sender() -> None:
            for _ in range(per_loop // 2):
                await pacer.acquire()
                times.append(clock.now())

        async with asyncio.TaskGroup() as group:  # contended: the lock is this loop's
            group.create_task(sender())
            group.create_task(sender())
        clock.advance(0.05)  # the reports of one file, then the next file's start

    for api in settings:
        asyncio.run(file(api))
    return sorted(times)


@pytest.mark.parametrize(
    ("rates", "windows"),
    [
        (["2", "2", "2"], [(1.0, 2)]),
        (["5/2s", "5/2s", "5/2s"], [(2.0, 5), (1.0, 3)]),
        (["10", "2", "10"], [(1.0, 10)]),  # a resumed file at its own rate
    ],
)
def test_a_pace_shared_by_successive_event_loops_keeps_every_window(
    rates: list[str], windows: list[tuple[float, int]]
) -> None:
    times = _sends_in_loops(rates, 10)
    assert len(times) == 10 * len(rates)
    for window_s, cap in windows:
        assert _most_in_window(times, window_s) <= cap
    if rates[1] == "2":  # the slower file's sends keep its own rate after the fast one
        assert _most_in_window(times[10:20], 1.0) <= 2


def test_the_next_client_of_a_pace_goes_on_at_the_adapted_rate() -> None:
    api = resolve_options(Options(rate="auto:60")).api
    pace = Pace.for_settings(api)
    assert pace.adaptive is not None
    start = pace.adaptive.current_per_s
    for second in range(40):  # accepted answers for a few seconds: slow start climbs
        for tick in range(10):
            pace.adaptive.on_answer(second * 0.1 + tick * 0.01, throttled=False)
    climbed = pace.adaptive.current_per_s
    assert climbed > start
    again = pace.follow(api)
    assert again.adaptive is not None
    assert again.adaptive.current_per_s == climbed
    other = pace.follow(resolve_options(Options(rate="auto:20")).api)
    assert other.adaptive is not None
    assert other.adaptive.current_per_s == start  # another rate: a new controller


def test_a_resume_that_comes_first_keeps_the_limit_its_run_found() -> None:
    options = resolve_options(Options(rate="auto:60"))
    pace = Pace.for_settings(options.api)  # a sweep's pace, before any answer
    found = {"auto": True, "final_per_s": 18.0, "found_per_s": 20.0, "settled_per_s": 19.4}
    resumed = pace.follow(resumed_rate(options, found).api)
    assert resumed.adaptive is not None
    assert resumed.adaptive.current_per_s == pytest.approx(0.97 * 20)
    assert resumed.pacer.rate_per_s == pytest.approx(0.97 * 20)
