"""POST /api/v1/orders with payments: how the shopper paid, in and out, and what is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import order_payload
from tests.web.support import assert_problem, unchanged

Sessions = async_sessionmaker[AsyncSession]
# order_payload(): 2 × 25.00 + 12.00 + 4.99 shipping.
TOTAL = 2 * 2500 + 1200 + 499
CARD = {"method": "card", "captured_minor": 5000, "reference": "ch_1", "last4": "4242"}
GIFT = {"method": "gift_card", "captured_minor": TOTAL - 5000}


def _order(order_id: str = "P-1", payments: list[Any] | None = None, **kw: Any) -> dict[str, Any]:
    payload = order_payload(order_id, **kw)
    if payments is not None:
        payload["payments"] = payments
    return payload


@asynccontextmanager
async def nothing_written(sessions: Sessions) -> AsyncIterator[None]:
    """Every row as it was, the payments and the order's money included."""
    sql = (
        "SELECT o.external_id, o.paid_minor, o.given_back_minor, p.position, p.method,"
        " p.reference, p.last4, p.captured_minor, p.refunded_minor FROM order_payments p"
        " JOIN orders o ON o.id = p.order_id ORDER BY o.external_id, p.position"
    )

    async def payments() -> list[tuple[Any, ...]]:
        async with sessions() as session:
            return [tuple(row) for row in (await session.execute(text(sql))).all()]

    before = await payments()
    async with unchanged(sessions):
        yield
    assert await payments() == before


async def test_payments_sent_with_an_order_come_back_with_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/orders", json=_order(payments=[CARD, GIFT]))

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["paid_minor"], body["given_back_minor"]) == (TOTAL, 0)
    assert body["payments"] == [
        {
            "position": 1,
            "method": "card",
            "reference": "ch_1",
            "last4": "4242",
            "captured_minor": 5000,
            "refunded_minor": 0,
        },
        {
            "position": 2,
            "method": "gift_card",
            "reference": None,
            "last4": None,
            "captured_minor": TOTAL - 5000,
            "refunded_minor": 0,
        },
    ]
    assert (await client.get("/api/v1/orders/P-1")).json() == body


async def test_an_order_without_payments_shows_one_for_its_total(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/orders", json=_order())

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["paid_minor"] == TOTAL
    assert [(p["method"], p["captured_minor"]) for p in body["payments"]] == [("original", TOTAL)]


async def test_an_idempotent_retry_records_the_payments_once(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    headers = {"Idempotency-Key": "order-with-payments"}
    sent = _order(payments=[CARD, GIFT])
    first = await client.post("/api/v1/orders", json=sent, headers=headers)
    again = await client.post("/api/v1/orders", json=sent, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM order_payments")) == 2


def _payment(**changes: Any) -> list[dict[str, Any]]:
    return [{**CARD, **changes}, GIFT]


BAD_PAYMENTS = {
    "negative captured": _payment(captured_minor=-1),
    "fractional captured": _payment(captured_minor=50.5),
    "captured as float": _payment(captured_minor=5000.0),
    "captured as string": _payment(captured_minor="5000"),
    "huge captured": _payment(captured_minor=10**13 + 1),
    "captured missing": [{"method": "card"}],
    "wrong sum": _payment(captured_minor=4999),
    "more than the total": [*_payment(), {"method": "card", "captured_minor": 1}],
    "short last4": _payment(last4="424"),
    "letters in last4": _payment(last4="42a2"),
    "last4 as number": _payment(last4=4242),
    "upper-case method": _payment(method="Card"),
    "spaces in method": _payment(method="credit card"),
    "empty method": _payment(method=""),
    "long method": _payment(method="m" * 33),
    "long reference": _payment(reference="r" * 129),
    "unknown payment field": _payment(brand="visa"),
    "no payments": [],
    "payments not a list": CARD,
    "too many payments": [{"method": "card", "captured_minor": 1}] * 21,
}


@pytest.mark.parametrize("payments", BAD_PAYMENTS.values(), ids=BAD_PAYMENTS.keys())
async def test_bad_payments_are_a_422_problem_and_write_nothing(
    client: httpx.AsyncClient, sessions: Sessions, payments: Any
) -> None:
    await client.post("/api/v1/orders", json=_order(payments=[CARD, GIFT]))
    async with nothing_written(sessions):
        for order_id in ("P-1", "P-2"):
            response = await client.post(
                "/api/v1/orders",
                json=_order(order_id, payments=payments),
                headers={"Idempotency-Key": f"bad-{order_id}"},
            )
            assert_problem(response, 422, "validation-failed")


async def test_a_wrong_sum_is_explained_in_money(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/orders", json=_order(payments=_payment(last4=None)[:1]))

    body = assert_problem(response, 422, "validation-failed")
    assert "payments add up to 50.00 USD but the order totals 66.99 USD" in response.text, body


async def test_malformed_json_is_a_400_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    async with nothing_written(sessions):
        response = await client.post(
            "/api/v1/orders",
            content=b'{"order_id": "P-1", "payments": [',
            headers={"Content-Type": "application/json"},
        )
        assert_problem(response, 400)


async def test_payments_of_an_order_with_refunds_cant_change(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await client.post("/api/v1/orders", json=_order(payments=[CARD, GIFT]))
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE order_payments SET refunded_minor = 700"))
        await session.execute(text("UPDATE orders SET given_back_minor = 700"))

    async with nothing_written(sessions):
        changed = _order(payments=[{"method": "card", "captured_minor": TOTAL}])
        response = await client.post("/api/v1/orders", json=changed)
        body = assert_problem(response, 409, "conflict")
        assert "has refunds against it" in body["detail"]

    same = await client.post("/api/v1/orders", json=_order(payments=[CARD, GIFT]))
    assert same.status_code == 200, same.text
    assert [p["refunded_minor"] for p in same.json()["payments"]] == [700, 700]
    assert same.json()["given_back_minor"] == 700
