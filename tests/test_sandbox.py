"""The sandbox behaves like the documented Quivo API (docs/api.md, docs/sandbox.md)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pipeline.sandbox import Faults, SandboxConfig, Stats, create_app, load_orders, running_sandbox
from pipeline.sandbox.cli_options import parse_faults
from pipeline.sandbox.orders import generate_order
from tests.conftest import API_KEY, REPO, SAMPLE_DATA, Api, FakeClock

US_ADDRESS = {
    "name": "Ada Lovelace",
    "street": "1 Main St",
    "city": "Boston",
    "zip": "02134",
    "state": "MA",
    "countryIso2": "US",
}


# --- login and tokens ----------------------------------------------------------------------


async def test_login_returns_a_raw_token_that_authorises_calls(api: Api) -> None:
    answer = await api.login()
    assert answer.status == 200
    assert api.token
    assert not api.token.startswith("Bearer")
    assert (await api.call("GET", "/orders/4100001")).status == 200
    bearer = await api.call(
        "GET", "/orders/4100001", headers={"Authorization": f"Bearer {api.token}"}
    )
    assert bearer.status == 401
    assert api.state.stats.logins == 1


async def test_wrong_password_is_refused_with_401(api: Api) -> None:
    answer = await api.login(password="wrong")
    assert answer.status == 401
    assert api.state.stats.login_failures == 1


async def test_wrong_api_key_is_refused_with_403_everywhere(api: Api) -> None:
    await api.login()
    for method, path in [("POST", "/login"), ("GET", "/orders/4100001")]:
        answer = await api.call(method, path, headers={"X-Api-Key": "nope"})
        assert answer.status == 403
        assert answer.json() == {"message": "Forbidden"}


async def test_calls_without_a_token_are_unauthorised(api: Api) -> None:
    answer = await api.call("POST", "/orders/4100001/refetch")
    assert answer.status == 401
    assert answer.json() == {"message": "Unauthorized"}


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(token_ttl_s=60)])
async def test_tokens_expire_after_their_ttl(api: Api, clock: FakeClock) -> None:
    await api.login()
    clock.advance(59.9)
    assert (await api.call("GET", "/orders/4100001")).status == 200
    clock.advance(0.2)
    answer = await api.call("GET", "/orders/4100001")
    assert answer.status == 401
    assert answer.json() == {"message": "The incoming token has expired"}
    await api.login()
    assert (await api.call("GET", "/orders/4100001")).status == 200


# --- reading orders -------------------------------------------------------------------------


async def test_refetch_returns_the_full_order_shaped_like_the_schema(api: Api) -> None:
    await api.login()
    answer = await api.call("POST", "/orders/4100001/refetch")
    assert answer.status == 200
    order = answer.json()
    schema = json.loads((REPO / "tests/data/quivo-order-schema.json").read_text())
    assert set(order) == set(schema)
    assert set(order["deliveryAddress"]) == set(schema["deliveryAddress"])
    assert set(order["invoiceAddress"]) == set(schema["invoiceAddress"])
    assert 4_000 <= len(answer.text) <= 10_000


def test_generated_orders_cover_every_status_and_shipped_ones_have_shipments() -> None:
    orders = [generate_order(4100001 + i, seed=7) for i in range(200)]
    assert {o["orderStatus"] for o in orders} == {"PENDING", "PROCESSING", "COMPLETED", "CANCELLED"}
    for order in orders:
        shipments = order["fulfillmentOrders"][0]["shipments"]
        assert bool(shipments) == (order["orderStatus"] == "COMPLETED")
    assert generate_order(4100005, seed=7) == generate_order(4100005, seed=7)
    assert generate_order(4100005, seed=7) != generate_order(4100005, seed=8)


async def test_unknown_orders_answer_404(api: Api) -> None:
    await api.login()
    for method, path in [
        ("GET", "/orders/1"),
        ("POST", "/orders/1/refetch"),
        ("PATCH", "/orders/1"),
        ("POST", "/orders/1/cancelRequest"),
        ("GET", "/orders/abc"),
    ]:
        answer = await api.call(method, path, json_body={"comment": "x"})
        assert answer.status == 404, (method, path)
        assert "not found" in answer.json()["message"]


async def test_list_orders_filters_by_status_and_pages(api: Api) -> None:
    await api.login()
    answer = await api.call(
        "GET", "/orders", params={"query": "orderStatus:COMPLETED", "pageSize": "10"}
    )
    page_one = answer.json()
    assert isinstance(page_one, list)
    assert len(page_one) == 10
    assert {o["orderStatus"] for o in page_one} == {"COMPLETED"}
    page_two = (
        await api.call(
            "GET",
            "/orders",
            params={"query": "orderStatus:COMPLETED", "pageSize": "10", "page": "2"},
        )
    ).json()
    assert page_one[-1]["orderId"] < page_two[0]["orderId"]
    everything = (await api.call("GET", "/orders", params={"pageSize": "1000"})).json()
    assert len(everything) == 300
    too_big = await api.call("GET", "/orders", params={"pageSize": "1001"})
    assert too_big.status == 400


# --- updates ---------------------------------------------------------------------------------


async def test_patch_updates_comment_tracking_attributes_and_maps_the_address(api: Api) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    before = json.loads(json.dumps(api.order(order_id)))
    answer = await api.call(
        "PATCH",
        f"/orders/{order_id}",
        json_body={
            "comment": "Ring twice",
            "trackingEnabled": True,
            "customAttributes": {"giftWrap": "yes"},
            "address": {"street": "Neubaugasse 7", "street2": "Top 3"},
        },
    )
    assert answer.status in (200, 204)
    order = api.order(order_id)
    assert order["comment"] == "Ring twice"
    assert order["trackingEnabled"] is True
    assert order["customAttributes"] == {**before["customAttributes"], "giftWrap": "yes"}
    assert order["deliveryAddress"]["address1"] == "Neubaugasse 7"
    assert order["deliveryAddress"]["address2"] == "Top 3"
    assert order["deliveryAddress"]["city"] == before["deliveryAddress"]["city"]
    assert order["lastModified"] >= before["lastModified"]
    assert api.state.stats.accepted_mutations[order_id] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"comment": "x" * 251}, "comment: size must be between 0 and 250"),
        ({"comment": "😀" * 126}, "comment: size must be between 0 and 250"),  # UTF-16 units
        ({"trackingEnabled": "yes"}, "trackingEnabled: must be a boolean"),
        ({"customAttributes": ["a"]}, "customAttributes: must be an object"),
        ({"colour": "red"}, 'Unrecognized field "colour"'),
        ({"address": {"countryIso2": "XX"}}, "address.countryIso2: must be a valid"),
    ],
)
async def test_patch_rejects_invalid_bodies_with_plain_text_400(
    api: Api, body: dict[str, Any], message: str
) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    answer = await api.call("PATCH", f"/orders/{order_id}", json_body=body)
    assert answer.status == 400
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.text.startswith(message)
    assert api.state.stats.accepted_mutations[order_id] == 0


async def test_a_250_character_comment_is_accepted(api: Api) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    answer = await api.call("PATCH", f"/orders/{order_id}", json_body={"comment": "é" * 250})
    assert answer.status == 204
    assert api.order(order_id)["comment"] == "é" * 250


async def test_malformed_json_is_a_plain_400(api: Api) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    async with api.session.patch(
        f"{api.base_url}/orders/{order_id}",
        data=b"{not json",
        headers={"X-Api-Key": API_KEY, "Authorization": api.token},
    ) as response:
        assert response.status == 400
        assert await response.text() == "Malformed JSON request"


@pytest.mark.parametrize(
    ("status", "can_update", "can_cancel"),
    [
        ("PENDING", False, True),
        ("PROCESSING", True, True),
        ("COMPLETED", False, False),
        ("CANCELLED", False, False),
    ],
)
async def test_status_table(api: Api, status: str, can_update: bool, can_cancel: bool) -> None:
    await api.login()
    order_id = api.first(status) if status != "CANCELLED" else _cancelled(api)
    patch = await api.call("PATCH", f"/orders/{order_id}", json_body={"comment": "hi"})
    put = await api.call(
        "PUT", f"/orders/{order_id}/address", params={"type": "DELIVERY"}, json_body=US_ADDRESS
    )
    cancel = await api.call("POST", f"/orders/{order_id}/cancelRequest")
    assert (patch.status == 204, put.status == 204) == (can_update, can_update)
    assert cancel.status == (204 if can_cancel else 409)
    for refused in [a for a in (patch, put, cancel) if a.status == 409]:
        assert status in refused.json()["message"]


def _cancelled(api: Api) -> int:
    for order_id in api.state.store.ids():
        if api.order(order_id)["orderStatus"] == "CANCELLED":
            return order_id
    raise AssertionError("no CANCELLED order")


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": None}, "address.name: name or company is required"),
        ({"name": None, "company": "Acme"}, None),
        ({"street": None}, "address.street: must not be blank"),
        ({"city": "  "}, "address.city: must not be blank"),
        ({"countryIso2": None, "state": None}, "address.countryIso2: must not be blank"),
        ({"countryIso2": "XX"}, "address.countryIso2: must be a valid ISO 3166-1 alpha-2 code"),
        ({"state": None}, "address.state: is required for country US"),
        ({"countryIso2": "CA", "state": None}, "address.state: is required for country CA"),
        ({"countryIso2": "DE", "state": None, "zip": None}, "address.zip: must not be blank"),
        ({"countryIso2": "IE", "state": None, "zip": None}, None),
        ({"countryIso2": "de", "state": None}, None),
        (
            {"street": None, "city": None, "zip": None, "countryIso2": None, "state": None}
            | {"latitude": 48.2, "longitude": 16.37},
            None,
        ),
        ({"latitude": 91.0, "longitude": 0.0}, "address.latitude: must be between -90 and 90"),
        ({"latitude": 0.0, "longitude": -180.5}, "address.longitude: must be between"),
        ({"latitude": "48"}, "address.latitude: must be a number"),
    ],
)
async def test_put_address_rules(api: Api, change: dict[str, Any], problem: str | None) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    body = {k: v for k, v in (US_ADDRESS | change).items() if v is not None}
    answer = await api.call(
        "PUT", f"/orders/{order_id}/address", params={"type": "DELIVERY"}, json_body=body
    )
    if problem is None:
        assert answer.status == 204, answer.text
    else:
        assert answer.status == 400
        assert answer.text.startswith(problem)


async def test_put_address_replaces_the_whole_address_with_the_response_mapping(api: Api) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    answer = await api.call(
        "PUT",
        f"/orders/{order_id}/address",
        params={"type": "DELIVERY"},
        json_body=US_ADDRESS | {"countryIso2": "us", "latitude": 42.35, "longitude": -71.06},
    )
    assert answer.status == 204
    delivery = api.order(order_id)["deliveryAddress"]
    assert delivery["name1"] == "Ada Lovelace"
    assert delivery["address1"] == "1 Main St"
    assert delivery["country"] == "US"
    assert delivery["company"] == ""  # not given: cleared, the address is replaced
    assert (delivery["latitude"], delivery["longitude"]) == (42.35, -71.06)


async def test_delivery_and_invoice_sets_both_and_invoice_ignores_coordinates(api: Api) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    answer = await api.call(
        "PUT",
        f"/orders/{order_id}/address",
        params={"type": "DELIVERY_AND_INVOICE"},
        json_body=US_ADDRESS | {"latitude": 42.35, "longitude": -71.06},
    )
    assert answer.status == 204
    order = api.order(order_id)
    assert (
        order["invoiceAddress"]["address1"] == order["deliveryAddress"]["address1"] == "1 Main St"
    )
    assert "latitude" not in order["invoiceAddress"]


async def test_invoice_only_leaves_the_delivery_address(api: Api) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    delivery_before = dict(api.order(order_id)["deliveryAddress"])
    answer = await api.call(
        "PUT", f"/orders/{order_id}/address", params={"type": "INVOICE"}, json_body=US_ADDRESS
    )
    assert answer.status == 204
    assert api.order(order_id)["deliveryAddress"] == delivery_before
    assert api.order(order_id)["invoiceAddress"]["city"] == "Boston"


async def test_put_address_needs_a_valid_type(api: Api) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    answer = await api.call(
        "PUT", f"/orders/{order_id}/address", params={"type": "HOME"}, json_body=US_ADDRESS
    )
    assert answer.status == 400
    assert "type: must be one of DELIVERY, INVOICE, DELIVERY_AND_INVOICE" in answer.text


# --- cancellation ------------------------------------------------------------------------------


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(cancel_delay_s=30)])
async def test_cancel_is_a_request_that_completes_later(api: Api, clock: FakeClock) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    assert (await api.call("POST", f"/orders/{order_id}/cancelRequest")).status == 204
    order = (await api.call("POST", f"/orders/{order_id}/refetch")).json()
    assert order["cancelRequestedAt"]
    assert order["orderStatus"] == "PROCESSING"
    again = await api.call("POST", f"/orders/{order_id}/cancelRequest")
    assert again.status == 409
    assert "already requested" in again.json()["message"]
    refused_update = await api.call("PATCH", f"/orders/{order_id}", json_body={"comment": "x"})
    assert refused_update.status == 409
    clock.advance(30)
    order = (await api.call("POST", f"/orders/{order_id}/refetch")).json()
    assert order["orderStatus"] == "CANCELLED"
    assert order["fulfillmentOrders"][0]["cancelled"] is True


# --- rate limit ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(rate_limit_per_s=5)])
async def test_rate_limit_answers_429_with_retry_after_seconds(api: Api, clock: FakeClock) -> None:
    await api.login()  # 1 of 5
    answers = [await api.call("GET", "/orders/4100001") for _ in range(6)]
    assert [a.status for a in answers] == [200] * 4 + [429] * 2
    assert answers[-1].json() == {"message": "Too Many Requests"}
    assert answers[-1].headers["Retry-After"] == "1"
    clock.advance(0.999)
    assert (await api.call("GET", "/orders/4100001")).status == 429
    clock.advance(0.001)  # the window is half-open: [t, t+1)
    assert (await api.call("GET", "/orders/4100001")).status == 200
    assert api.state.stats.rate_limited == 3


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(rate_limit_per_s=1, retry_after="date")])
async def test_rate_limit_can_send_retry_after_as_an_http_date(api: Api) -> None:
    await api.login()
    answer = await api.call("GET", "/orders/4100001")
    assert answer.status == 429
    when = parsedate_to_datetime(answer.headers["Retry-After"])
    assert 0 <= when.timestamp() - time.time() <= 2


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(rate_limit_per_s=1, retry_after="none")])
async def test_rate_limit_can_omit_retry_after(api: Api) -> None:
    await api.login()
    answer = await api.call("GET", "/orders/4100001")
    assert answer.status == 429
    assert "Retry-After" not in answer.headers


@pytest.mark.parametrize(
    ("arrivals", "expected"),
    [
        ([], 0),
        ([0.0], 1),
        ([0.0, 0.5, 0.999], 3),
        ([0.0, 0.5, 1.0], 2),  # 1.0 is outside [0, 1)
        ([0.0, 0.9, 1.1, 1.2, 1.3], 4),
        ([0.0, 2.0, 4.0], 1),
    ],
)
def test_max_in_any_second_uses_half_open_windows(arrivals: list[float], expected: int) -> None:
    assert Stats(arrivals=arrivals).max_in_any_second() == expected


# --- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(faults=Faults(error_share=1.0))])
async def test_error_faults_answer_5xx_without_changing_the_order(api: Api) -> None:
    order_id = api.first("PROCESSING")
    statuses = set()
    for _ in range(30):
        answer = await api.call("PATCH", f"/orders/{order_id}", json_body={"comment": "x"})
        statuses.add(answer.status)
        if answer.status == 502:
            assert answer.headers["Content-Type"].startswith("text/html")
    assert statuses == {500, 502, 503}
    assert api.state.stats.accepted_mutations[order_id] == 0
    assert sum(api.state.stats.faults.values()) == 30


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(faults=Faults(drop_share=1.0))])
async def test_dropped_connections_lose_the_answer_but_the_change_lands(api: Api) -> None:
    api.token = "irrelevant"
    api.state.tokens["irrelevant"] = float("inf")
    order_id = api.first("PROCESSING")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.call("PATCH", f"/orders/{order_id}", json_body={"comment": "dropped"})
    assert api.order(order_id)["comment"] == "dropped"
    assert api.state.stats.faults["dropped"] == 1


@pytest.mark.parametrize(
    "sandbox_config", [SandboxConfig(faults=Faults(slow_share=1.0, slow_s=0.2))]
)
async def test_slow_answers_arrive_late(api: Api) -> None:
    started = time.perf_counter()
    answer = await api.login()
    assert answer.status == 200
    assert time.perf_counter() - started >= 0.2
    assert api.state.stats.faults["slow"] == 1


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(faults=Faults(malformed_share=1.0))])
async def test_malformed_bodies_are_not_json(api: Api) -> None:
    answer = await api.call(
        "POST", "/login", json_body={"username": "sandbox", "password": "sandbox"}
    )
    assert answer.status == 200
    with pytest.raises(json.JSONDecodeError):
        answer.json()


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(faults=Faults(complete_share=1.0))])
async def test_orders_complete_under_the_run(api: Api) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    answer = await api.call("PATCH", f"/orders/{order_id}", json_body={"comment": "late"})
    assert answer.status == 409
    assert "COMPLETED" in answer.json()["message"]
    assert api.order(order_id)["completedAt"]
    assert api.state.stats.faults["completed"] == 1


async def test_faults_are_deterministic_under_a_seed() -> None:
    async def statuses(seed: int) -> list[int]:
        config = SandboxConfig(seed=seed, faults=Faults(error_share=0.5))
        app = create_app(config)
        async with running_sandbox(app) as url, aiohttp.ClientSession() as session:
            seen = []
            for _ in range(20):
                async with session.get(f"{url}/orders/4100001") as response:
                    seen.append(response.status)
            return seen

    first, again, other = await statuses(3), await statuses(3), await statuses(4)
    assert first == again
    assert first != other
    assert 403 in first  # no key: the requests that pass the dice meet the auth check


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Faults()),
        ("error=0.1,drop=0.03", Faults(error_share=0.1, drop_share=0.03)),
        ("slow=0.5, slow_s=2", Faults(slow_share=0.5, slow_s=2.0)),
        ("malformed=0.02,complete=0.3", Faults(malformed_share=0.02, complete_share=0.3)),
    ],
)
def test_parse_faults(text: str, expected: Faults) -> None:
    assert parse_faults(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("boom=1", "not KEY=VALUE"),
        ("error", "not KEY=VALUE"),
        ("error=lots", "is not a number"),
        ("error=1.5", "between 0 and 1"),
        ("error=0.6,drop=0.6", "more than 1"),
    ],
)
def test_parse_faults_refuses_bad_specs(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_faults(text)


# --- stats ------------------------------------------------------------------------------------


async def test_stats_count_requests_per_order_and_endpoint_and_reset(api: Api) -> None:
    await api.login()
    order_id = api.first("PROCESSING")
    await api.call("PATCH", f"/orders/{order_id}", json_body={"comment": "a"})
    await api.call("PATCH", f"/orders/{order_id}", json_body={"comment": "b"})
    await api.call("POST", f"/orders/{order_id}/refetch")
    stats = (await api.call("GET", "/_sandbox/stats")).json()
    assert stats["requests"] == 4
    assert stats["logins"] == 1
    assert stats["tokens_used"] == 1
    assert stats["by_order"][str(order_id)] == {"patch": 2, "refetch": 1}
    assert stats["by_endpoint"] == {"login": 1, "patch": 2, "refetch": 1}
    assert stats["accepted_mutations"] == {str(order_id): 2}
    assert stats["max_requests_in_any_second"] == 4  # the fake clock never moved
    assert (await api.call("POST", "/_sandbox/reset")).status == 204
    assert (await api.call("GET", "/_sandbox/stats")).json()["requests"] == 0


# --- shipped data and the command ------------------------------------------------------------


def test_shipped_sandbox_orders_load_and_cover_every_status() -> None:
    orders = load_orders(SAMPLE_DATA / "sandbox_orders.jsonl")
    assert 200 <= len(orders) <= 1000
    assert {o["orderStatus"] for o in orders} == {"PENDING", "PROCESSING", "COMPLETED", "CANCELLED"}


def test_load_orders_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text('{"orderId": 1}\n{"orderId": "x"}\n')
    with pytest.raises(ValueError, match=r"orders.jsonl:2: not an order object"):
        load_orders(path)


def test_sandbox_command_announces_its_url_and_answers() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "pipeline", "sandbox", "--port", "0", "--count", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"Sandbox listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line

        async def probe() -> int:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    match.group(1) + "/login",
                    json={"username": "sandbox", "password": "sandbox"},
                    headers={"X-Api-Key": API_KEY},
                ) as response,
            ):
                return response.status

        try:
            assert asyncio.run(probe()) == 200
        finally:
            process.terminate()


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("orderId:4100001 OR orderId:4100002", [4100001, 4100002]),
        ('orderId:"4100003"', [4100003]),
        ("orderId:4100001 AND orderStatus:PROCESSING", None),
        ("orderId:4100001 OR orderIdentifier:#1002", None),
        ("", None),
    ],
)
def test_a_search_of_order_ids_alone_is_looked_up(query: str, ids: list[int] | None) -> None:
    from pipeline.sandbox.search import only_order_ids

    assert only_order_ids(query) == ids
