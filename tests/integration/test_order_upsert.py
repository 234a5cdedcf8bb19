"""Orders are upserted by the shop's order number, and never in a way that breaks a return."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.errors import Conflict
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import UpsertResult, get_order, upsert_order
from reclaim.returns import service as returns
from tests.factories import actor, order_payload, seed_order, seed_return
from tests.integration.helpers import rows, table_counts

Sessions = async_sessionmaker[AsyncSession]
TABLES = ("orders", "customers", "products", "order_lines")


async def _upsert(sessions: Sessions, payload: dict[str, Any]) -> UpsertResult:
    async with transaction(sessions) as session:
        return await upsert_order(session, OrderIn.model_validate(payload))


async def _order_state(sessions: Sessions, order_id: str = "1001") -> dict[str, Any]:
    return {
        "order": await rows(
            sessions,
            "SELECT currency, shipping_minor, discount_minor, delivered_at FROM orders"
            " WHERE external_id = :o",
            o=order_id,
        ),
        "lines": await rows(
            sessions,
            "SELECT ol.line_ref, ol.sku, ol.quantity, ol.returned_quantity, ol.unit_price_minor"
            " FROM order_lines ol JOIN orders o ON o.id = ol.order_id"
            " WHERE o.external_id = :o ORDER BY ol.line_ref",
            o=order_id,
        ),
        "counts": await table_counts(sessions, *TABLES),
    }


async def test_upsert_creates_then_updates_the_same_order(sessions: Sessions) -> None:
    first = await _upsert(sessions, order_payload(quantity=2))
    assert first.created
    assert await table_counts(sessions, *TABLES) == dict.fromkeys(TABLES, 1) | {
        "products": 2,
        "order_lines": 2,
    }

    changed = order_payload(quantity=5, unit_price_minor=1999, delivered_days_ago=1)
    changed["shipping_minor"] = 0
    changed["customer"]["name"] = "Ann Renamed"
    changed["lines"][1] = {"line_id": "3", "sku": "CAP", "quantity": 1, "unit_price_minor": 900}
    second = await _upsert(sessions, changed)

    assert not second.created
    assert second.order.id == first.order.id
    # Line "2" (no returns) is gone, "3" is new; the customer is the same row, renamed.
    assert await table_counts(sessions, *TABLES) == {
        "orders": 1,
        "customers": 1,
        "products": 3,
        "order_lines": 2,
    }
    state = await _order_state(sessions)
    assert state["lines"] == [("1", "TEE-M", 5, 0, 1999), ("3", "CAP", 1, 0, 900)]
    assert state["order"][0][1] == 0
    assert await rows(sessions, "SELECT name, email FROM customers") == [
        ("Ann Renamed", "ann@example.com")
    ]


async def test_upsert_with_no_change_is_idempotent(sessions: Sessions) -> None:
    payload = order_payload()
    await _upsert(sessions, payload)
    before = await _order_state(sessions)

    again = await _upsert(sessions, payload)

    assert not again.created
    assert await _order_state(sessions) == before


async def test_orders_of_one_customer_share_the_customer_and_products(sessions: Sessions) -> None:
    await _upsert(sessions, order_payload("1001"))
    await _upsert(sessions, order_payload("1002"))

    assert await table_counts(sessions, *TABLES) == {
        "orders": 2,
        "customers": 1,
        "products": 2,
        "order_lines": 4,
    }


@pytest.mark.parametrize(
    "change",
    [
        "quantity_below_returned",
        "remove_line_with_returns",
        "change_currency",
        "change_sku",
        "change_price",
        "change_discount",
    ],
)
async def test_update_that_would_break_a_return_is_refused_and_changes_nothing(
    sessions: Sessions, change: str
) -> None:
    await seed_order(sessions, quantity=3)
    await seed_return(sessions, quantity=2)
    before = await _order_state(sessions)

    payload = order_payload(quantity=3)
    # Header edits ride along so a half-applied update would show.
    payload["shipping_minor"] = 0
    if change == "quantity_below_returned":
        payload["lines"][0]["quantity"] = 1
    elif change == "remove_line_with_returns":
        payload["lines"] = payload["lines"][1:]
    elif change == "change_sku":
        payload["lines"][0]["sku"] = "LAPTOP-X"
    elif change == "change_price":
        payload["lines"][0]["unit_price_minor"] = 250_000
    elif change == "change_discount":
        payload["lines"][0]["discount_minor"] = 100
    else:
        payload["currency"] = "EUR"
    with pytest.raises(Conflict):
        await _upsert(sessions, payload)

    assert await _order_state(sessions) == before


async def test_a_line_whose_return_was_cancelled_still_cannot_be_removed(
    sessions: Sessions,
) -> None:
    # The cancelled return still shows the line in its history, so the line must stay.
    await seed_order(sessions, quantity=3)
    number = await seed_return(sessions, quantity=2)
    async with transaction(sessions) as session:
        await returns.cancel(session, number, actor(), "Changed my mind")
    before = await _order_state(sessions)

    payload = order_payload(quantity=3)
    payload["lines"] = payload["lines"][1:]
    with pytest.raises(Conflict, match="can't be removed"):
        await _upsert(sessions, payload)

    assert await _order_state(sessions) == before


async def test_concurrent_orders_sharing_skus_in_opposite_order_all_succeed(
    sessions: Sessions,
) -> None:
    def lines(skus: list[str], price: int) -> list[dict[str, Any]]:
        return [
            {
                "line_id": str(i),
                "sku": sku,
                "quantity": 1,
                "unit_price_minor": price,
                "product": {"name": sku, "price_minor": price},
            }
            for i, sku in enumerate(skus, start=1)
        ]

    skus = ["SKU-A", "SKU-B", "SKU-C", "SKU-D"]
    payloads = [
        order_payload(f"P{i}", lines=lines(skus if i % 2 else skus[::-1], 1000 + i))
        for i in range(8)
    ]
    results = await asyncio.gather(*(_upsert(sessions, p) for p in payloads))

    assert all(result.created for result in results)


async def test_quantity_may_drop_to_exactly_what_is_returned(sessions: Sessions) -> None:
    await seed_order(sessions, quantity=3)
    await seed_return(sessions, quantity=2)

    await _upsert(sessions, order_payload(quantity=2))

    assert (await _order_state(sessions))["lines"][0][2:4] == (2, 2)


async def test_line_without_returns_may_go_while_another_has_returns(sessions: Sessions) -> None:
    await seed_order(sessions)
    await seed_return(sessions, line_id="1", quantity=1)
    payload = order_payload()
    payload["lines"] = payload["lines"][:1]

    await _upsert(sessions, payload)

    assert [line[:4] for line in (await _order_state(sessions))["lines"]] == [("1", "TEE-M", 2, 1)]


@pytest.mark.parametrize("known_customer", [False, True])
async def test_concurrent_upserts_of_a_new_order_create_it_once(
    sessions: Sessions, known_customer: bool
) -> None:
    # A customer already on file takes away the lock a new customer row would give for free.
    if known_customer:
        await _upsert(sessions, order_payload("7000", email="race@example.com"))
    payload = order_payload("7777", email="race@example.com")
    expected = await table_counts(sessions, *TABLES)

    results = await asyncio.gather(
        *(_upsert(sessions, payload) for _ in range(20)), return_exceptions=True
    )

    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert await table_counts(sessions, *TABLES) == {
        "orders": expected["orders"] + 1,
        "customers": 1,
        "products": 2,
        "order_lines": expected["order_lines"] + 2,
    }
    # The API answers 201 or 200 from this flag: only one caller really created the order.
    assert sum(r.created for r in results if isinstance(r, UpsertResult)) == 1
    async with transaction(sessions) as session:
        order = await get_order(session, "7777")
        assert [(line.line_ref, line.quantity) for line in order.lines] == [("1", 2), ("2", 1)]


async def test_concurrent_upserts_of_different_orders_share_customer_and_products(
    sessions: Sessions,
) -> None:
    payloads = [order_payload(f"80{i:02d}", email="same@example.com") for i in range(15)]

    results = await asyncio.gather(
        *(_upsert(sessions, p) for p in payloads), return_exceptions=True
    )

    assert [r for r in results if isinstance(r, BaseException)] == []
    assert await table_counts(sessions, *TABLES) == {
        "orders": 15,
        "customers": 1,
        "products": 2,
        "order_lines": 30,
    }
