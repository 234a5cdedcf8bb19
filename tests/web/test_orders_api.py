"""POST /api/v1/orders and GET /api/v1/orders/{id}: the shop's orders, upserted by order number."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import order_payload
from tests.web.support import assert_problem, count, post_order, post_return, unchanged


async def test_a_new_order_is_created_with_201_and_echoed_back(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sent = order_payload("A-1", quantity=3, unit_price_minor=1999)
    response = await client.post("/api/v1/orders", json=sent)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["order_id"] == "A-1"
    assert body["customer_email"] == "ann@example.com"
    assert body["currency"] == "USD"
    assert body["shipping_minor"] == 499
    assert datetime.fromisoformat(body["placed_at"]) == datetime.fromisoformat(sent["placed_at"])
    assert [(line["line_id"], line["sku"], line["quantity"]) for line in body["lines"]] == [
        ("1", "TEE-M", 3),
        ("2", "MUG", 1),
    ]
    assert body["lines"][0]["unit_price_minor"] == 1999
    assert all(line["returned_quantity"] == 0 for line in body["lines"])
    assert await count(sessions, "orders") == 1


async def test_posting_the_same_order_id_again_updates_it_with_200(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, "A-1", quantity=2)
    changed = order_payload("A-1", quantity=5, delivered_days_ago=1, email="Ann.New@Example.com")

    response = await client.post("/api/v1/orders", json=changed)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["lines"][0]["quantity"] == 5
    assert body["customer_email"] == "ann.new@example.com"
    assert datetime.fromisoformat(body["delivered_at"]) == datetime.fromisoformat(
        changed["delivered_at"]
    )
    assert await count(sessions, "orders") == 1
    assert await count(sessions, "order_lines") == 2


async def test_an_order_can_be_read_back_with_its_returned_quantities(
    client: httpx.AsyncClient,
) -> None:
    created = await post_order(client, "A-1", quantity=3)
    await post_return(client, "A-1", quantity=2)

    response = await client.get("/api/v1/orders/A-1")

    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: v for k, v in body.items() if k != "lines"} == {
        k: v for k, v in created.items() if k != "lines"
    }
    assert [line["returned_quantity"] for line in body["lines"]] == [2, 0]


async def test_an_unknown_order_id_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/orders/NOPE-404"), 404, "not-found")
    assert body["order_id"] == "NOPE-404"


@pytest.mark.parametrize("sent", ["usd", " usd ", "Usd"])
async def test_a_currency_code_is_accepted_in_any_case_and_stored_upper_case(
    client: httpx.AsyncClient, sent: str
) -> None:
    body = await post_order(client, "A-1", currency=sent)
    assert body["currency"] == "USD"
    assert (await client.get("/api/v1/orders/A-1")).json()["currency"] == "USD"


ADDRESS = {
    "line1": "12 Church Street",
    "line2": "Flat 3",
    "city": "London",
    "region": "Greater London",
    "postcode": "N1 2AB",
    "country": "GB",
}


async def _stored_address(sessions: async_sessionmaker[AsyncSession]) -> tuple[Any, ...]:
    async with sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT ship_line1, ship_line2, ship_city, ship_region, ship_postcode, "
                    "ship_country FROM orders WHERE external_id = 'A-1'"
                )
            )
        ).one()
    return tuple(row)


async def test_the_street_address_is_stored_and_a_bad_one_changes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sent = {**order_payload("A-1"), "shipping_address": {**ADDRESS, "city": "  London "}}
    assert (await client.post("/api/v1/orders", json=sent)).status_code == 201
    assert await _stored_address(sessions) == tuple(ADDRESS.values())

    for bad in ({"line1": "12 Church\x00 Street"}, {"line2": "x" * 129}):
        refused = await client.post(
            "/api/v1/orders", json={**sent, "shipping_address": {**ADDRESS, **bad}}
        )
        assert_problem(refused, 422, "validation-failed")
    assert await _stored_address(sessions) == tuple(ADDRESS.values())

    moved = {**sent, "shipping_address": {"postcode": "E8 3RH", "country": "GB"}}
    assert (await client.post("/api/v1/orders", json=moved)).status_code == 200
    assert await _stored_address(sessions) == (None, None, None, None, "E8 3RH", "GB")


def _with(path: str, value: Any) -> dict[str, Any]:
    """A valid order payload with one field (``a.0.b`` style path) replaced, or removed."""
    payload = order_payload("BAD-1")
    *parents, last = path.split(".")
    target: Any = payload
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _REMOVE:
        del target[last]
    else:
        target[last] = value
    return payload


_REMOVE = object()
_NAIVE = (datetime.now() - timedelta(days=9)).replace(microsecond=0).isoformat()

BAD_ORDERS = {
    "unknown currency": _with("currency", "XYZ"),
    "two-letter currency": _with("currency", "US"),
    "numeric currency": _with("currency", 840),
    "price as float": _with("lines.0.unit_price_minor", 25.0),
    "price with cents as float": _with("lines.0.unit_price_minor", 24.99),
    "price as string": _with("lines.0.unit_price_minor", "2500"),
    "negative price": _with("lines.0.unit_price_minor", -1),
    "absurd price": _with("lines.0.unit_price_minor", 10**13 + 1),
    "shipping as float": _with("shipping_minor", 4.99),
    "zero quantity": _with("lines.0.quantity", 0),
    "negative quantity": _with("lines.0.quantity", -2),
    "fractional quantity": _with("lines.0.quantity", 1.5),
    "quantity as string": _with("lines.0.quantity", "2"),
    "quantity as bool": _with("lines.0.quantity", True),
    "huge quantity": _with("lines.0.quantity", 10**9),
    "unknown top-level field": {**order_payload("BAD-1"), "coupon": "SAVE10"},
    "unknown line field": _with("lines.0.colour", "red"),
    "unknown customer field": _with("customer.vip", True),
    "bad email": _with("customer.email", "not-an-email"),
    "naive timestamp": _with("placed_at", _NAIVE),
    "not a timestamp": _with("placed_at", "yesterday"),
    "missing order id": _with("order_id", _REMOVE),
    "empty order id": _with("order_id", ""),
    "order id as number": _with("order_id", 1001),
    "no lines": _with("lines", []),
    "lines not a list": _with("lines", {"line_id": "1"}),
    "duplicate line ids": _with("lines.1.line_id", "1"),
    "delivered before placed": _with("delivered_at", "2000-01-01T00:00:00+00:00"),
    "discount above line price": _with("lines.0.discount_minor", 10**6),
    "NUL in the street": _with("shipping_address", {"line1": "12 Church\x00 Street"}),
    "NUL in the city": _with("shipping_address", {"city": "Lon\x00don"}),
    "street too long": _with("shipping_address", {"line1": "x" * 129}),
    "region too long": _with("shipping_address", {"region": "x" * 65}),
    "unknown address field": _with("shipping_address", {"street": "12 Church Street"}),
}


@pytest.mark.parametrize("payload", BAD_ORDERS.values(), ids=BAD_ORDERS.keys())
async def test_an_invalid_order_is_a_422_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], payload: dict
) -> None:
    await post_order(client, "A-1")
    async with unchanged(sessions):
        response = await client.post(
            "/api/v1/orders", json=payload, headers={"Idempotency-Key": "bad-order"}
        )
        assert_problem(response, 422, "validation-failed")
    assert (await client.get("/api/v1/orders/BAD-1")).status_code == 404


async def test_an_order_update_that_would_break_its_returns_is_a_409_and_writes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, "A-1", quantity=3)
    await post_return(client, "A-1", quantity=2)
    attempts = {
        "currency change": order_payload("A-1", quantity=3, currency="EUR"),
        "quantity below what is returned": order_payload("A-1", quantity=1),
        "returned line dropped": order_payload(
            "A-1", lines=[{"line_id": "2", "sku": "MUG", "quantity": 1, "unit_price_minor": 1200}]
        ),
    }
    async with unchanged(sessions):
        for name, payload in attempts.items():
            response = await client.post("/api/v1/orders", json=payload)
            assert response.status_code == 409, (name, response.text)
            assert_problem(response, 409, "conflict")
