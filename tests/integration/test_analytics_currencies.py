"""Money KPIs never add one currency to another: a unit the warehouse valued in its product's
currency counts toward a return in another currency in neither recovery nor cost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import rollups, service
from reclaim.analytics.filters import Filters
from reclaim.catalog.models import Product
from reclaim.db import transaction
from reclaim.orders.models import Customer, Order, OrderLine
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.warehouse.models import DispositionRecord

AT = datetime(2026, 3, 2, 10, tzinfo=UTC)
MARCH = Filters.parse(since="2026-03-01", until="2026-03-31")


async def _add(session: AsyncSession, row: Any) -> Any:
    session.add(row)
    await session.flush()
    return row


async def _routed_return(
    session: AsyncSession, sku: str, currency: str, valued_in: str, value: int
) -> None:
    product = await _add(
        session, Product(sku=sku, name=sku, category="apparel", price_minor=10000, currency="GBP")
    )
    customer = await _add(session, Customer(external_id=f"C-{sku}", email=f"{sku}@example.com"))
    order = await _add(
        session,
        Order(
            external_id=f"E-{sku}",
            customer_id=customer.id,
            currency=currency,
            placed_at=AT,
            delivered_at=AT,
        ),
    )
    line = await _add(
        session,
        OrderLine(
            order_id=order.id,
            line_ref="1",
            product_id=product.id,
            sku=sku,
            quantity=1,
            unit_price_minor=12000,
        ),
    )
    return_ = await _add(
        session,
        Return(
            number=f"RMA-{sku}",
            order_id=order.id,
            customer_id=customer.id,
            status="completed",
            method="prepaid_label",
            currency=currency,
            created_at=AT,
            updated_at=AT,
        ),
    )
    session.add(
        ReturnEvent(return_id=return_.id, action="create", to_status="requested", actor="t", at=AT)
    )
    returned = await _add(
        session,
        ReturnLine(
            return_id=return_.id,
            order_line_id=line.id,
            quantity=1,
            reason="too_small",
            resolution="refund",
            received_quantity=1,
            received_at=AT,
            grade="good",
            disposition="open_box",
            dispositioned_at=AT,
        ),
    )
    session.add(
        DispositionRecord(
            return_line_id=returned.id,
            channel="open_box",
            quantity=1,
            currency=valued_in,
            expected_value_minor=value,
            expected_cost_minor=500,
            expected_net_minor=value - 500,
            location="OB",
            actor="t",
            at=AT,
        )
    )


async def test_a_unit_valued_in_another_currency_counts_in_neither_recovery_nor_cost(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        await _routed_return(session, "JKT", "EUR", valued_in="GBP", value=9000)
        await _routed_return(session, "COAT", "EUR", valued_in="EUR", value=6000)
    await rollups.refresh(sessions)

    async with transaction(sessions) as session:
        report = await service.report(session, MARCH)

    assert report.currency == "EUR"
    recovery = report.kpi("recovery_rate")
    assert (recovery.numerator, recovery.denominator) == (6000, 12000)
    assert report.kpi("cost_per_return").numerator == 500
