"""GET /api/v1/analytics/findings, /products and /products/{sku} over real HTTP: findings as
actions, product rates with their intervals, bad filters refused, and the scope they need."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import rollups
from reclaim.kit.clock import utcnow
from tests.factories import seed_api_key
from tests.web.conftest import LiveServer
from tests.web.support import api_client, assert_problem, post_order, unchanged

ORDERS = 25
TEES = ("TEE-1", "TEE-2", "TEE-3", "TEE-S")


def tee(ref: str, sku: str) -> dict[str, Any]:
    return {
        "line_id": ref,
        "sku": sku,
        "quantity": 1,
        "unit_price_minor": 2500,
        "product": {"name": f"Tee {sku}", "category": "apparel", "weight_grams": 200},
    }


async def give_back(
    client: httpx.AsyncClient, order: str, ref: str, reason: str, comment: str | None = None
) -> None:
    line = {"line_id": ref, "quantity": 1, "reason": reason, "comment": comment}
    response = await client.post("/api/v1/returns", json={"order_id": order, "lines": [line]})
    assert response.status_code == 201, response.text


@pytest.fixture
async def history(client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]) -> None:
    """25 orders of four tees. TEE-S: 8 back too small, each saying it runs small. The other
    tees: one each, no longer needed."""
    for n in range(ORDERS):
        lines = [tee(str(i), sku) for i, sku in enumerate(TEES, 1)]
        await post_order(client, f"O{n}", lines=lines, email=f"shopper{n}@example.com")
    for n in range(8):
        await give_back(client, f"O{n}", "4", "too_small", "Runs small")
    for ref in ("1", "2", "3"):
        await give_back(client, f"O{10 + int(ref)}", ref, "no_longer_needed")
    await rollups.refresh(sessions)


def month() -> dict[str, str]:
    today = utcnow().date()
    return {"since": str(today - timedelta(days=30)), "until": str(today)}


async def test_findings_are_actions_most_valuable_first(
    client: httpx.AsyncClient, history: None
) -> None:
    response = await client.get("/api/v1/analytics/findings", params=month())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["since"], body["until"]) == (month()["since"], month()["until"])
    found = [(item["kind"], item["subject"], item["severity"]) for item in body["items"]]
    # 8 too-small returns where the other tees have none, 8 comments, and 7 units beyond the
    # other tees' 4% of 25, each worth 25.00.
    assert found == [
        ("reason_concentration", "TEE-S", 20_000),
        ("theme", "runs small", 20_000),
        ("sku_excess", "TEE-S", 17_500),
    ]
    excess = body["items"][2]
    assert excess["headline"].startswith("SKU TEE-S (Tee TEE-S) comes back ")
    assert excess["action"] == "check its listing and quality"
    assert excess["evidence"]["returned_units"] == 8
    assert excess["evidence"]["shipped_units"] == ORDERS
    low, high = excess["evidence"]["interval"]
    assert low < excess["evidence"]["rate"] < high
    limited = await client.get("/api/v1/analytics/findings", params={**month(), "limit": 1})
    assert [item["kind"] for item in limited.json()["items"]] == ["reason_concentration"]


async def test_the_default_period_is_the_last_90_days(
    client: httpx.AsyncClient, history: None
) -> None:
    response = await client.get("/api/v1/analytics/findings")
    assert response.status_code == 200, response.text
    today = utcnow().date()
    assert response.json()["since"] == str(today - timedelta(days=89))
    assert len(response.json()["items"]) == 3


async def test_product_rates_come_most_returned_first_with_their_intervals(
    client: httpx.AsyncClient, history: None
) -> None:
    response = await client.get("/api/v1/analytics/products", params=month())
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["sku"] for item in items][0] == "TEE-S"
    assert {item["sku"] for item in items} == set(TEES)
    first = items[0]
    assert (first["returned_units"], first["shipped_units"], first["raw_rate"]) == (8, 25, 0.32)
    assert first["low"] < first["rate"] < first["high"]
    assert first["category_rate"] == pytest.approx(3 / 75)
    assert first["frequently_returned"] and first["excessive"]
    assert first["top_reason"] == "too_small"
    flagged = await client.get("/api/v1/analytics/products", params={**month(), "flagged": True})
    assert [item["sku"] for item in flagged.json()["items"]] == ["TEE-S"]
    two = await client.get("/api/v1/analytics/products", params={**month(), "limit": 2})
    assert len(two.json()["items"]) == 2


async def test_one_products_rate_and_an_unknown_sku(
    client: httpx.AsyncClient, history: None
) -> None:
    response = await client.get("/api/v1/analytics/products/TEE-1", params=month())
    assert response.status_code == 200, response.text
    one = response.json()
    assert (one["sku"], one["returned_units"], one["shipped_units"]) == ("TEE-1", 1, 25)
    assert not one["frequently_returned"]
    missing = await client.get("/api/v1/analytics/products/NOPE", params=month())
    assert assert_problem(missing, 404, "not-found")["sku"] == "NOPE"


async def test_a_facility_filter_leaves_findings_and_rates_over_all_facilities(
    client: httpx.AsyncClient, history: None
) -> None:
    # Units shipped belong to no facility: a facility can't slice a return rate.
    for path in ("findings", "products", "products/TEE-S"):
        url = f"/api/v1/analytics/{path}"
        everywhere = await client.get(url, params=month())
        nowhere = await client.get(url, params={**month(), "facility": "NO-SUCH"})
        assert nowhere.status_code == everywhere.status_code == 200, nowhere.text
        assert nowhere.json() == everywhere.json()
    findings = await client.get("/api/v1/analytics/findings", params={"facility": "NO-SUCH"})
    assert len(findings.json()["items"]) == 3


@pytest.mark.parametrize("sku", ["%00", "TEE%00S", "TEE%0AS", "%1B", "%7F"])
async def test_a_sku_with_a_control_character_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], sku: str
) -> None:
    await post_order(client, "1001")
    async with unchanged(sessions):
        response = await client.get(f"/api/v1/analytics/products/{sku}")
    assert_problem(response, 422, "validation-failed")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/analytics/findings", {"since": "2024-13-01"}),
        ("/api/v1/analytics/findings", {"since": "2024-05-02", "until": "2024-05-01"}),
        ("/api/v1/analytics/findings", {"since": "2019-01-01", "until": "2024-01-01"}),
        ("/api/v1/analytics/findings", {"reason": "bored"}),
        ("/api/v1/analytics/findings", {"currency": "EURO"}),
        ("/api/v1/analytics/findings", {"category": "x" * 65}),
        ("/api/v1/analytics/findings", {"limit": 0}),
        ("/api/v1/analytics/products", {"limit": 501}),
        ("/api/v1/analytics/products", {"flagged": "perhaps"}),
        ("/api/v1/analytics/products", {"until": "yesterday"}),
        ("/api/v1/analytics/products/TEE-1", {"since": "01/05/2024"}),
    ],
)
async def test_bad_filters_are_refused_as_problems_and_change_nothing(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    path: str,
    params: dict[str, Any],
) -> None:
    await post_order(client, "1001")
    async with unchanged(sessions):
        response = await client.get(path, params=params)
    assert_problem(response, 422, "validation-failed")


async def test_findings_need_the_analytics_read_scope(
    live_server: LiveServer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    key = await seed_api_key(sessions, ["orders:read", "returns:read"])
    paths = ("findings", "products", "products/TEE-M")
    # The key is checked first: bad filters tell a caller without one nothing.
    bad = {"since": "never"}
    async with api_client(live_server.url, key.token) as http:
        for path in paths:
            response = await http.get(f"/api/v1/analytics/{path}", params=bad)
            assert_problem(response, 403, "forbidden")
    async with api_client(live_server.url) as anonymous:
        for path in paths:
            response = await anonymous.get(f"/api/v1/analytics/{path}", params=bad)
            assert_problem(response, 401, "unauthorized")
    reader = await seed_api_key(sessions, ["analytics:read"])
    async with api_client(live_server.url, reader.token) as http:
        assert (await http.get("/api/v1/analytics/findings")).status_code == 200
