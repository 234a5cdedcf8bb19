"""The inventory ledger: every unit into or out of a location is a new row, never an edit.

Stock is what the rows add up to. The database itself refuses to update or delete a row, so a
mistake is corrected by recording the opposite movement.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.catalog.models import Product
from reclaim.errors import ValidationFailed
from reclaim.returns.service import Actor
from reclaim.warehouse.models import InventoryMovement

# What moves units: restock and open_box come from dispositions, refurbished from work orders.
KINDS = frozenset({"restock", "open_box", "refurbished", "transfer", "correction"})


@dataclass(frozen=True, slots=True)
class StockRow:
    sku: str
    condition: str
    location: str
    quantity: int


def record(
    session: AsyncSession,
    *,
    product: Product,
    condition: str,
    location: str,
    quantity: int,
    kind: str,
    actor: Actor,
    return_line_id: int | None = None,
    work_order_id: int | None = None,
    value_minor: int | None = None,
    currency: str | None = None,
    note: str | None = None,
) -> InventoryMovement:
    """Append one movement: ``quantity`` units of the product in (+) or out (-) of a location."""
    if quantity == 0:
        raise ValidationFailed("A movement moves at least one unit, in or out.")
    if kind not in KINDS:
        raise ValidationFailed(f"Unknown movement kind {kind!r}.", kind=kind)
    movement = InventoryMovement(
        product_id=product.id,
        sku=product.sku,
        condition=condition,
        location=location,
        quantity=quantity,
        kind=kind,
        return_line_id=return_line_id,
        work_order_id=work_order_id,
        value_minor=value_minor,
        currency=currency if currency is not None else product.currency,
        actor=actor.name,
        note=note,
        at=actor.now,
    )
    session.add(movement)
    return movement


async def stock(
    session: AsyncSession, *, sku: str | None = None, location: str | None = None
) -> list[StockRow]:
    """Units on hand by SKU, condition and location; positions that net to zero are left out."""
    total = func.sum(InventoryMovement.quantity)
    query = (
        select(
            InventoryMovement.sku, InventoryMovement.condition, InventoryMovement.location, total
        )
        .group_by(InventoryMovement.sku, InventoryMovement.condition, InventoryMovement.location)
        .having(total != 0)
        .order_by(InventoryMovement.sku, InventoryMovement.location, InventoryMovement.condition)
    )
    if sku is not None:
        query = query.where(InventoryMovement.sku == sku)
    if location is not None:
        query = query.where(InventoryMovement.location == location)
    return [
        StockRow(row_sku, condition, row_location, int(quantity))
        for row_sku, condition, row_location, quantity in (await session.execute(query)).all()
    ]


async def movements(
    session: AsyncSession, *, sku: str | None = None, limit: int = 50, after: int | None = None
) -> tuple[list[InventoryMovement], int | None]:
    """Newest first, a page at a time; the cursor is the id of the last movement seen."""
    query = select(InventoryMovement).order_by(InventoryMovement.id.desc()).limit(limit + 1)
    if sku is not None:
        query = query.where(InventoryMovement.sku == sku)
    if after is not None:
        query = query.where(InventoryMovement.id < after)
    rows = list(await session.scalars(query))
    page, more = rows[:limit], len(rows) > limit
    return page, (page[-1].id if more and page else None)
