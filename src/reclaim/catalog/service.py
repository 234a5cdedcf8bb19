"""Products, created or refreshed from what the shop tells us."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.catalog.models import Product
from reclaim.db import insert_ignoring_conflict
from reclaim.orders.schemas import ProductIn


async def upsert_product(
    session: AsyncSession,
    sku: str,
    currency: str,
    details: ProductIn | None,
    *,
    unit_price_minor: int,
) -> Product:
    """The product behind a SKU, created on first sight; given details overwrite ours."""
    await insert_ignoring_conflict(
        session,
        Product,
        {
            "sku": sku,
            "name": (details.name if details and details.name else sku),
            "category": (details.category if details and details.category else "general"),
            "price_minor": unit_price_minor,
            "cost_minor": 0,
            "currency": currency,
            "weight_grams": 0,
            "returnable": True,
            "attributes": {},
        },
        ["sku"],
    )
    product = await session.scalar(select(Product).where(Product.sku == sku))
    assert product is not None
    if details:
        for field, value in details.model_dump(exclude_none=True).items():
            setattr(product, field, value)
    return product
