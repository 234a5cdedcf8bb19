"""GET /api/v1/orders/{order_id}/returnability and GET /api/v1/policy, under a policy of our own."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.policy.loader import parse
from tests.factories import seed_api_key
from tests.web.conftest import LiveServer
from tests.web.support import api_client, assert_problem, post_order, post_return

Sessions = async_sessionmaker[AsyncSession]
POLICY_TEXT = """
name = "Returnability test policy"
auto_approve = false

[window]
days = 30
categories = { electronics = 15 }

[eligibility]
non_returnable_categories = ["gift_cards"]
final_sale_skus = ["CLEAR-1"]

[[options.rules]]
when = { categories = ["beauty"] }
resolutions = ["refund", "store_credit"]
explain = "Beauty products can be refunded or credited, not exchanged."

[[options.rules]]
when = { min_value = "400.00" }
methods = ["prepaid_label", "scheduled_pickup", "in_store"]
explain = "Items over 400.00 travel back insured."

[review]
reasons = []
"""
VERSION = parse(POLICY_TEXT, "test").version
EVERY_METHOD = ["prepaid_label", "box_free_dropoff", "locker", "in_store", "scheduled_pickup"]
EVERY_RESOLUTION = ["refund", "store_credit", "exchange"]
INSURED = ["prepaid_label", "in_store", "scheduled_pickup"]


@pytest.fixture
def server_overrides(tmp_path: Path) -> dict[str, Any]:
    """Every test here runs the server under POLICY_TEXT."""
    path = tmp_path / "returnability.toml"
    path.write_text(POLICY_TEXT)
    return {"policy_file": path}


def _line(line_id: str, sku: str, category: str, price: int, **product: Any) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "sku": sku,
        "quantity": product.pop("quantity", 1),
        "unit_price_minor": price,
        "product": {"name": sku.title(), "category": category, **product},
    }


async def _returnability(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/orders/{order_id}/returnability")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _by_line(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["line_id"]: line for line in body["lines"]}


def _delivered(order: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(order["delivered_at"])


async def test_each_line_says_whether_how_many_until_when_and_why(
    client: httpx.AsyncClient,
) -> None:
    order = await post_order(
        client,
        "R-1",
        delivered_days_ago=3,
        lines=[
            _line("1", "TEE-M", "apparel", 2500, quantity=3),
            _line("2", "CLEAR-1", "apparel", 900),
            _line("3", "GIFT-50", "gift_cards", 5000),
            _line("4", "SERUM", "beauty", 1500),
            _line("5", "MUG", "home", 1200),
            _line("6", "TV", "electronics", 49_900),
            _line("7", "CANDLE", "home", 800, returnable=False),
        ],
    )
    await post_return(client, "R-1", line_id="1", quantity=1)
    await post_return(client, "R-1", line_id="5", quantity=1)
    delivered = _delivered(order)

    body = await _returnability(client, "R-1")

    assert body["order_id"] == "R-1"
    assert body["policy_version"] == VERSION
    lines = _by_line(body)
    assert list(lines) == ["1", "2", "3", "4", "5", "6", "7"]

    tee = lines["1"]  # partly returned: what is left can still come back
    assert (tee["sku"], tee["quantity"], tee["returned_quantity"]) == ("TEE-M", 3, 1)
    assert (tee["returnable"], tee["returnable_quantity"]) == (True, 2)
    assert datetime.fromisoformat(tee["deadline"]) == delivered + timedelta(days=30)
    assert tee["explanation"]["code"] == "window"
    assert tee["explanation"]["text"].startswith("Return by ")
    assert (tee["resolutions"], tee["methods"]) == (EVERY_RESOLUTION, EVERY_METHOD)

    for line_id, code in [
        ("2", "final_sale"),
        ("3", "non_returnable"),
        ("5", "already_returned"),
        ("7", "non_returnable"),
    ]:
        line = lines[line_id]
        assert line["explanation"]["code"] == code, line
        assert (line["returnable"], line["returnable_quantity"], line["deadline"]) == (
            False,
            0,
            None,
        )
        assert (line["resolutions"], line["methods"]) == ([], [])
    assert lines["2"]["explanation"]["text"] == "Final sale items can't be returned."
    assert lines["5"]["returned_quantity"] == 1

    assert lines["4"]["resolutions"] == ["refund", "store_credit"]
    assert lines["4"]["methods"] == EVERY_METHOD
    tv = lines["6"]
    assert tv["returnable"] and tv["methods"] == INSURED
    assert datetime.fromisoformat(tv["deadline"]) == delivered + timedelta(days=15)

    # The whole parcel can only travel the ways every returnable line allows.
    assert body["methods"] == INSURED
    assert [note["text"] for note in body["explanations"]] == [
        "Beauty products can be refunded or credited, not exchanged.",
        "Items over 400.00 travel back insured.",
    ]


async def test_a_closed_window_gives_the_date_it_closed(client: httpx.AsyncClient) -> None:
    order = await post_order(
        client,
        "R-2",
        delivered_days_ago=20,
        lines=[
            _line("1", "TEE-M", "apparel", 2500),
            _line("2", "PHONE", "electronics", 20_000),
        ],
    )
    delivered = _delivered(order)

    lines = _by_line(await _returnability(client, "R-2"))

    assert lines["1"]["returnable"] is True
    phone = lines["2"]
    assert (phone["returnable"], phone["returnable_quantity"]) == (False, 0)
    assert phone["explanation"]["code"] == "window_closed"
    assert datetime.fromisoformat(phone["deadline"]) == delivered + timedelta(days=15)
    assert (phone["resolutions"], phone["methods"]) == ([], [])


async def test_nothing_returnable_offers_no_method(client: httpx.AsyncClient) -> None:
    await post_order(client, "R-3", delivered_days_ago=None)

    body = await _returnability(client, "R-3")

    assert body["methods"] == [] and body["explanations"] == []
    assert {line["explanation"]["code"] for line in body["lines"]} == {"not_delivered"}
    assert not any(line["returnable"] for line in body["lines"])


async def test_an_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/orders/NOPE/returnability")
    problem = assert_problem(response, 404, "not-found")
    assert "NOPE" in problem["detail"]


async def test_the_live_policy_is_shown_with_its_version_and_every_rule(
    client: httpx.AsyncClient,
) -> None:
    await post_order(client, "R-4")
    created = await post_return(client, "R-4")

    response = await client.get("/api/v1/policy")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["version"]) == ("Returnability test policy", VERSION)
    assert created["policy_version"] == VERSION
    settings = body["settings"]
    assert settings["auto_approve"] is False
    assert settings["window"] == {
        "days": 30,
        "categories": {"electronics": 15},
        "skus": {},
        "tier_extra_days": {},
    }
    assert settings["eligibility"]["final_sale_skus"] == ["CLEAR-1"]
    # Sets come out sorted, so the same policy always reads the same.
    assert settings["options"]["methods"] == sorted(EVERY_METHOD)
    assert settings["options"]["rules"][1]["when"]["min_value"] == "400.00"
    assert settings["pickup"]["windows"] == [["09:00", "13:00"], ["13:00", "17:00"]]
    assert settings["refund_timing"]["default"] == "after_inspection"


async def test_each_needs_its_scope(live_server: LiveServer, sessions: Sessions) -> None:
    writer = await seed_api_key(sessions)
    async with api_client(live_server.url, writer.token) as http:
        await post_order(http, "R-5")
    returns_reader = await seed_api_key(sessions, ["returns:read"])
    orders_reader = await seed_api_key(sessions, ["orders:read"])
    async with api_client(live_server.url, returns_reader.token) as http:
        assert_problem(await http.get("/api/v1/orders/R-5/returnability"), 403, "forbidden")
        assert (await http.get("/api/v1/policy")).status_code == 200
    async with api_client(live_server.url, orders_reader.token) as http:
        assert (await http.get("/api/v1/orders/R-5/returnability")).status_code == 200
        assert_problem(await http.get("/api/v1/policy"), 403, "forbidden")
