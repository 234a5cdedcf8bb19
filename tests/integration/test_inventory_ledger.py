"""The inventory ledger on a real database: stock is the sum of its rows, it pages newest first,
and the database itself refuses to change or remove a row."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.catalog.models import Product
from reclaim.errors import ValidationFailed
from reclaim.warehouse import inventory
from tests.factories import actor, seed_order
from tests.integration.helpers import rows
from tests.integration.warehouse_support import Sessions, within


async def _record(sessions: Sessions, sku: str, *moves: tuple[str, str, int]) -> None:
    async def work(session: AsyncSession) -> None:
        product = await session.scalar(select(Product).where(Product.sku == sku))
        assert product is not None
        for condition, location, quantity in moves:
            inventory.record(
                session,
                product=product,
                condition=condition,
                location=location,
                quantity=quantity,
                kind="restock" if quantity > 0 else "correction",
                actor=actor("clerk"),
            )

    await within(sessions, work)


async def test_stock_adds_up_the_ledger_by_sku_condition_and_location(sessions: Sessions) -> None:
    await seed_order(sessions)
    await _record(
        sessions,
        "TEE-M",
        ("new", "STOCK-A", 2),
        ("new", "STOCK-A", 1),
        ("good", "OPEN-BOX", 1),
        ("like_new", "STOCK-A", 1),
        ("like_new", "STOCK-A", -1),
    )
    await _record(sessions, "MUG", ("new", "STOCK-A", 4))

    everything = await within(sessions, lambda s: inventory.stock(s))
    assert [(r.sku, r.condition, r.location, r.quantity) for r in everything] == [
        ("MUG", "new", "STOCK-A", 4),
        ("TEE-M", "good", "OPEN-BOX", 1),
        ("TEE-M", "new", "STOCK-A", 3),
    ]
    at_open_box = await within(sessions, lambda s: inventory.stock(s, location="OPEN-BOX"))
    assert [(r.sku, r.quantity) for r in at_open_box] == [("TEE-M", 1)]
    mugs = await within(sessions, lambda s: inventory.stock(s, sku="MUG"))
    assert [r.quantity for r in mugs] == [4]


async def test_movements_page_newest_first(sessions: Sessions) -> None:
    await seed_order(sessions)
    await _record(sessions, "TEE-M", *(("new", "STOCK-A", n) for n in range(1, 6)))

    first, cursor = await within(sessions, lambda s: inventory.movements(s, limit=2))
    assert [m.quantity for m in first] == [5, 4] and cursor is not None
    second, cursor = await within(sessions, lambda s: inventory.movements(s, limit=2, after=cursor))
    assert [m.quantity for m in second] == [3, 2] and cursor is not None
    last, cursor = await within(sessions, lambda s: inventory.movements(s, limit=2, after=cursor))
    assert [m.quantity for m in last] == [1] and cursor is None
    none, _ = await within(sessions, lambda s: inventory.movements(s, sku="MUG"))
    assert none == []


async def test_a_movement_of_nothing_is_refused(sessions: Sessions) -> None:
    await seed_order(sessions)

    with pytest.raises(ValidationFailed):
        await _record(sessions, "TEE-M", ("new", "STOCK-A", 0))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE inventory_movements SET quantity = 99",
        "UPDATE inventory_movements SET location = 'ELSEWHERE' WHERE id = 1",
        "DELETE FROM inventory_movements",
    ],
    ids=["update every row", "move one row", "delete"],
)
async def test_the_database_refuses_to_rewrite_the_ledger(
    sessions: Sessions, statement: str
) -> None:
    await seed_order(sessions)
    await _record(sessions, "TEE-M", ("new", "STOCK-A", 2))
    before = await rows(sessions, "SELECT * FROM inventory_movements")

    with pytest.raises(DBAPIError, match="append-only"):
        await within(sessions, lambda s: s.execute(text(statement)))

    assert await rows(sessions, "SELECT * FROM inventory_movements") == before
