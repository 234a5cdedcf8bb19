"""``POST /api/v1/predictions/return-risk`` over real HTTP on both databases: an order or a
cart scored with the live model, 409 ``no-model`` before one is trained, every bad body a
4xx problem, the scope enforced, and nothing ever written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics.retail_import import import_file
from reclaim.db import transaction
from reclaim.orders.models import Order
from reclaim.prediction import service
from tests.factories import seed_api_key
from tests.web.conftest import LiveServer
from tests.web.support import api_client, assert_problem, post_order, unchanged

Sessions = async_sessionmaker[AsyncSession]
URL = "/api/v1/predictions/return-risk"
SLICE = Path(__file__).parents[1] / "data" / "online_retail" / "slice.csv"
BANDS = {"low", "medium", "high"}
CART = {
    "customer": "16029",
    "currency": "GBP",
    "country": "United Kingdom",
    "lines": [
        {"sku": "85099B", "quantity": 100, "unit_price_minor": 165},
        {"sku": "22423", "quantity": 2, "unit_price_minor": 1275},
    ],
}


@pytest.fixture
async def trained(sessions: Sessions, live_server: LiveServer) -> str:
    """The slice imported and a model trained on it; the id of its latest order."""
    await import_file(sessions, SLICE)
    await service.train(sessions, datetime(2011, 9, 1, tzinfo=UTC))
    async with transaction(sessions) as session:
        latest = await session.scalar(
            select(Order.external_id).order_by(Order.placed_at.desc()).limit(1)
        )
    assert latest is not None
    return latest


async def _models(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(text("SELECT count(*) FROM prediction_models")) or 0)


def _check(body: dict[str, Any], lines: int) -> None:
    assert 0 < body["probability"] < 1 and body["band"] in BANDS
    assert body["model_version"] == 1 and len(body["lines"]) == lines
    for line in body["lines"]:
        assert 0 < line["probability"] < 1 and line["band"] in BANDS
        assert isinstance(line["drivers"], list) and all(
            isinstance(d, str) for d in line["drivers"]
        )


async def test_an_order_is_scored_with_each_line_and_its_drivers(
    client: httpx.AsyncClient, sessions: Sessions, trained: str
) -> None:
    async with unchanged(sessions):
        response = await client.post(URL, json={"order": trained})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order_id"] == trained
    async with sessions() as session:
        refs = await session.scalars(
            text(
                "SELECT l.line_ref FROM order_lines l JOIN orders o ON o.id = l.order_id "
                "WHERE o.external_id = :o"
            ),
            {"o": trained},
        )
        assert {line["line_id"] for line in body["lines"]} == set(refs)
    _check(body, len(body["lines"]))
    assert any(line["drivers"] for line in body["lines"])


async def test_a_cart_is_scored_line_by_line_in_the_order_sent(
    client: httpx.AsyncClient, sessions: Sessions, trained: str
) -> None:
    async with unchanged(sessions):
        response = await client.post(URL, json=CART)
        anonymous = await client.post(URL, json={k: v for k, v in CART.items() if k != "customer"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order_id"] is None
    assert [(x["line_id"], x["sku"]) for x in body["lines"]] == [("1", "85099B"), ("2", "22423")]
    _check(body, 2)
    assert anonymous.status_code == 200, anonymous.text
    _check(anonymous.json(), 2)


async def test_without_a_model_scoring_is_a_409_saying_how_to_train_one(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await post_order(client)
    async with unchanged(sessions):
        for body in ({"order": "1001"}, {"currency": "USD", "lines": CART["lines"]}):
            problem = assert_problem(await client.post(URL, json=body), 409, "no-model")
            assert "reclaim model train" in problem["detail"]
    assert await _models(sessions) == 0


def _cart(**changes: Any) -> dict[str, Any]:
    line = {"sku": "22423", "quantity": 2, "unit_price_minor": 1275}
    line_changes = changes.pop("line", {})
    return {"currency": "GBP", "lines": [{**line, **line_changes}], **changes}


BAD_BODIES: dict[str, Any] = {
    "zero quantity": _cart(line={"quantity": 0}),
    "negative quantity": _cart(line={"quantity": -3}),
    "huge quantity": _cart(line={"quantity": 10**9}),
    "quantity as text": _cart(line={"quantity": "2"}),
    "fractional quantity": _cart(line={"quantity": 1.5}),
    "negative price": _cart(line={"unit_price_minor": -1}),
    "price too large": _cart(line={"unit_price_minor": 10**20}),
    "empty sku": _cart(line={"sku": ""}),
    "sku with a NUL": _cart(line={"sku": "A\x00B"}),
    "unknown line field": _cart(line={"colour": "red"}),
    "no lines": _cart(lines=[]),
    "too many lines": _cart(lines=[{"sku": "X", "quantity": 1, "unit_price_minor": 1}] * 201),
    "lines not a list": _cart(lines={"sku": "X"}),
    "no currency": {"lines": [{"sku": "X", "quantity": 1, "unit_price_minor": 1}]},
    "unknown currency": _cart(currency="XYZ"),
    "order and cart": {**_cart(), "order": "1001"},
    "order not a string": {"order": 1001},
    "empty order": {"order": ""},
    "nothing": {},
    "a list": [{"order": "1001"}],
    "unknown field": {"order": "1001", "coupon": "FREE"},
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
async def test_a_bad_body_is_a_422_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: Sessions, case: str
) -> None:
    async with unchanged(sessions):
        response = await client.post(URL, json=BAD_BODIES[case])
    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"], problem


async def test_malformed_json_is_a_400_problem(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    async with unchanged(sessions):
        response = await client.post(
            URL, content=b'{"order": "10', headers={"Content-Type": "application/json"}
        )
    assert_problem(response, 400, "malformed-json")


async def test_an_unknown_order_is_a_404_problem(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    async with unchanged(sessions):
        assert_problem(await client.post(URL, json={"order": "nope"}), 404, "not-found")


async def test_a_cart_in_another_currency_than_the_models_is_a_422(
    client: httpx.AsyncClient, sessions: Sessions, trained: str
) -> None:
    async with unchanged(sessions):
        response = await client.post(URL, json={**CART, "currency": "USD"})
    assert "trained on GBP" in assert_problem(response, 422, "validation-failed")["detail"]


async def test_scoring_needs_a_key_with_the_predictions_scope(
    live_server: LiveServer, sessions: Sessions
) -> None:
    analyst = await seed_api_key(sessions, ["analytics:read", "orders:read"])
    scorer = await seed_api_key(sessions, ["predictions:read"])
    async with unchanged(sessions):
        async with api_client(live_server.url) as anonymous:
            assert_problem(await anonymous.post(URL, json={"order": "1"}), 401, "unauthorized")
        async with api_client(live_server.url, analyst.token) as http:
            refused = assert_problem(await http.post(URL, json={"order": "1"}), 403, "forbidden")
            assert refused["scope"] == "predictions:read"
        async with api_client(live_server.url, scorer.token) as http:
            assert_problem(await http.post(URL, json={"order": "1"}), 404, "not-found")
