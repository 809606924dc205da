"""apply checks staleness in batches (`GET /orders`: lastModified and status) and reads in
full only the orders that moved; a change to a field the plan does not touch is not stale."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import polars as pl
import pytest

from pipeline import apply_plan, plan_files, undo_run
from pipeline.sandbox import SandboxThread, create_app
from pipeline.sandbox.config import Faults, SandboxConfig
from tests.conftest import API_KEY, PASSWORD, USERNAME, env_for, options_for, order_ids, state_of

pytestmark = pytest.mark.slow


@pytest.fixture
def big_sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxThread]:
    """A generated sandbox with over 300 PROCESSING orders (last modified weeks ago)."""
    faults = getattr(request, "param", Faults())
    config = SandboxConfig(count=600, seed=11, cancel_delay_s=60, faults=faults)
    with SandboxThread(create_app(config)) as thread:
        yield thread


def address_file(folder: Path, ids: list[int]) -> Path:
    """Address corrections for `ids`: a new street, zip and city in Vienna."""
    rows = [
        {
            "orderId": str(order_id),
            "name": f"Kundin {order_id}",
            "street": f"Neubaugasse {n + 1}",
            "zip": "1070",
            "city": "Wien",
            "countryIso2": "AT",
        }
        for n, order_id in enumerate(ids)
    ]
    path = folder / "addresses.csv"
    pl.DataFrame(rows).write_csv(path)
    return path


def other_client(sandbox: SandboxThread, calls: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Another client changes orders through the API (a plain aiohttp session)."""

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                sandbox.base_url + "/login",
                json={"username": USERNAME, "password": PASSWORD},
                headers={"X-Api-Key": API_KEY},
            ) as answer:
                token = (await answer.json())["token"]
            headers = {"X-Api-Key": API_KEY, "Authorization": token}
            for method, path, body in calls:
                async with session.request(
                    method, sandbox.base_url + path, json=body, headers=headers
                ) as answer:
                    assert answer.status in (200, 204), await answer.text()

    asyncio.run(go())


def stored(sandbox: SandboxThread, order_id: int) -> dict[str, Any]:
    order = state_of(sandbox).order(order_id, touch=False)
    assert order is not None
    return order


def test_apply_reads_only_the_orders_changed_since_the_plan(
    big_sandbox: SandboxThread, tmp_path: Path
) -> None:
    """The issue's scenario: another client changes 20 of 300 planned orders between plan
    and apply, 10 in a field the plan changes, 10 in another field."""
    ids = order_ids(big_sandbox, "PROCESSING", 300)
    assert len(ids) == 300
    env = env_for(big_sandbox)
    options = options_for(big_sandbox, action="address")
    planned = plan_files(
        [address_file(tmp_path, ids)], options=options, env=env, out=tmp_path / "plan"
    )
    assert planned.summary.predictions == {"will_change": 300}
    in_planned_field, in_other_field = ids[5:15], ids[100:110]
    other_street = {
        "name": "Somebody Else",
        "street": "Ringstrasse 1",
        "zip": "1010",
        "city": "Wien",
        "countryIso2": "AT",
    }
    other_client(
        big_sandbox,
        [("PUT", f"/orders/{o}/address?type=DELIVERY", other_street) for o in in_planned_field]
        + [("PATCH", f"/orders/{o}", {"comment": f"call first {o}"}) for o in in_other_field],
    )
    state_of(big_sandbox).stats = type(state_of(big_sandbox).stats)()  # count apply alone

    applied = apply_plan(planned.plan_dir, env=env, out=tmp_path / "apply")

    outcome = dict(applied.results.select("orderId", "outcome").iter_rows())
    assert sorted(o for o, v in outcome.items() if v == "stale") == sorted(in_planned_field)
    assert sum(1 for v in outcome.values() if v == "applied") == 290
    for order_id in in_planned_field:  # nothing overwritten
        assert stored(big_sandbox, order_id)["deliveryAddress"]["address1"] == "Ringstrasse 1"
    for order_id in in_other_field:  # the other field kept, the plan's change landed
        order = stored(big_sandbox, order_id)
        assert order["comment"] == f"call first {order_id}"
        assert order["deliveryAddress"]["address1"].startswith("Neubaugasse")
    kinds = applied.summary.requests_by_kind
    # Only the 20 orders whose lastModified moved are read in full; the search costs
    # one request per 50 orders.
    assert kinds["read"] == 20
    assert kinds["search"] == 6
    assert kinds["mutation"] == 290
    assert kinds["refetch"] == 290
    received = state_of(big_sandbox).stats.as_json()
    assert received["requests"] == sum(kinds.values())
    # Searched a batch ahead of sending, not all first: a summary is seconds old when
    # its order is sent, not the whole run's duration.
    with sqlite3.connect(applied.run_dir / "journal.sqlite") as db:
        sent = db.execute("SELECT method, order_id FROM requests ORDER BY id").fetchall()
    first_change = next(i for i, (method, _) in enumerate(sent) if method == "PUT")
    last_search = max(i for i, (method, order) in enumerate(sent) if (method, order) == ("GET", 0))
    assert last_search > first_change


def test_stale_check_read_reads_every_order(big_sandbox: SandboxThread, tmp_path: Path) -> None:
    """`stale_check = "read"`: the old way, one full read per order and no search."""
    ids = order_ids(big_sandbox, "PROCESSING", 30)
    env = env_for(big_sandbox)
    options = options_for(big_sandbox, action="address")
    profile = replace(options.api.profile, stale_check="read")  # kept in the plan's manifest
    options = replace(options, api=replace(options.api, profile=profile))
    planned = plan_files(
        [address_file(tmp_path, ids)], options=options, env=env, out=tmp_path / "plan"
    )
    applied = apply_plan(planned.plan_dir, env=env, out=tmp_path / "apply")
    kinds = applied.summary.requests_by_kind
    assert (kinds["read"], kinds["search"], kinds["mutation"]) == (30, 0, 30)


@pytest.mark.parametrize("big_sandbox", [Faults(no_modified_share=1.0)], indirect=True)
def test_search_without_last_modified_falls_back_to_full_reads(
    big_sandbox: SandboxThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids = order_ids(big_sandbox, "PROCESSING", 30)
    env = env_for(big_sandbox)
    options = options_for(big_sandbox, action="address")
    planned = plan_files(
        [address_file(tmp_path, ids)], options=options, env=env, out=tmp_path / "plan"
    )
    other_client(
        big_sandbox,
        [("PATCH", f"/orders/{ids[0]}", {"address": {"street": "Elsewhere 9"}})],
    )
    with caplog.at_level(logging.WARNING):
        applied = apply_plan(planned.plan_dir, env=env, out=tmp_path / "apply")
    assert "search answers carry no lastModified" in caplog.text
    kinds = applied.summary.requests_by_kind
    assert kinds["read"] == 30  # every order read in full
    outcome = dict(applied.results.select("orderId", "outcome").iter_rows())
    assert outcome[ids[0]] == "stale"
    assert sum(1 for v in outcome.values() if v == "applied") == 29


def test_plan_learns_the_status_of_cancels_from_the_search(
    big_sandbox: SandboxThread, tmp_path: Path
) -> None:
    """A cancel-only order's status comes from `GET /orders`, 50 orders a request; an
    order COMPLETED or CANCELLED is predicted as by a full read."""
    processing = order_ids(big_sandbox, "PROCESSING", 80)
    completed = order_ids(big_sandbox, "COMPLETED", 10)
    cancelled = [
        o
        for o in state_of(big_sandbox).store.ids()
        if stored(big_sandbox, o)["orderStatus"] == "CANCELLED"
    ][:10]
    ids = processing + completed + cancelled
    path = tmp_path / "cancels.csv"
    pl.DataFrame({"orderId": [str(o) for o in ids] + ["4999999"]}).write_csv(path)
    planned = plan_files(
        [path],
        options=options_for(big_sandbox, action="cancel"),
        env=env_for(big_sandbox),
        out=tmp_path / "plan",
    )
    predicted = dict(planned.plan.select("orderId", "prediction").iter_rows())
    assert [predicted[o] for o in processing] == ["will_change"] * 80
    assert [predicted[o] for o in completed] == ["will_fail"] * 10
    assert [predicted[o] for o in cancelled] == ["unchanged"] * 10
    assert predicted[4999999] == "will_fail"  # no such order: the search does not find it,
    kinds = planned.summary.requests_by_kind
    assert kinds["read"] == 1  # and a read confirms it
    assert kinds["search"] == 3  # 101 orders, 50 a request
    assert sum(kinds.values()) == 5


def test_undo_apply_reads_orders_its_run_just_refetched(
    big_sandbox: SandboxThread, tmp_path: Path
) -> None:
    """An undo's images are the refetches right after the change: lastModified has whole
    seconds, so an unchanged one cannot prove that nobody changed the order in that same
    second. The undo reads each order (and does not waste searches on them)."""
    ids = order_ids(big_sandbox, "PROCESSING", 20)
    env = env_for(big_sandbox)
    options = options_for(big_sandbox, action="address")
    planned = plan_files(
        [address_file(tmp_path, ids)], options=options, env=env, out=tmp_path / "plan"
    )
    applied = apply_plan(planned.plan_dir, env=env, out=tmp_path / "apply")
    assert applied.summary.outcomes == {"applied": 20}
    other_client(big_sandbox, [("PATCH", f"/orders/{ids[3]}", {"address": {"city": "Graz"}})])
    undone = undo_run(applied.run_dir, env=env, apply=True)
    assert undone.run is not None
    kinds = undone.run.summary.requests_by_kind
    assert (kinds["search"], kinds["read"]) == (0, 20)
    outcome = dict(undone.run.results.select("orderId", "outcome").iter_rows())
    assert outcome[ids[3]] == "stale"
    assert stored(big_sandbox, ids[3])["deliveryAddress"]["city"] == "Graz"
    assert sum(1 for v in outcome.values() if v == "applied") == 19
