"""What the portal reads: an order with everything the policy needs, variants, and facts."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from reclaim.catalog.models import Product
from reclaim.orders.models import Order, OrderLine
from reclaim.policy import service as policy_service
from reclaim.policy.facts import OrderFacts
from reclaim.policy.loader import LoadedPolicy
from reclaim.policy.rules import ItemVerdict, item_verdict
from reclaim.returns.models import Return, ReturnLine


def _email(text: str) -> str:
    return text.strip().lower()


async def find_order(session: AsyncSession, order_number: str, email: str) -> Order | None:
    """The order when both the number and the e-mail match, else None: the same work either way."""
    order = await session.scalar(
        select(Order)
        .where(Order.external_id == order_number.strip())
        .options(joinedload(Order.customer, innerjoin=True))
    )
    expected = _email(order.customer.email) if order else "\x00"
    # Compared in constant time, and compared even when there is no order.
    same = hmac.compare_digest(expected.encode(), _email(email).encode())
    return order if order is not None and same else None


async def find_return(session: AsyncSession, number: str, email: str) -> Return | None:
    ret = await session.scalar(
        select(Return)
        .where(Return.number == number)
        .options(joinedload(Return.order, innerjoin=True).joinedload(Order.customer))
    )
    expected = _email(ret.order.customer.email) if ret else "\x00"
    same = hmac.compare_digest(expected.encode(), _email(email).encode())
    return ret if ret is not None and same else None


async def load_order(session: AsyncSession, order_id: str) -> Order | None:
    return await session.scalar(
        select(Order)
        .where(Order.external_id == order_id)
        .options(
            selectinload(Order.lines).joinedload(OrderLine.product, innerjoin=True),
            joinedload(Order.customer, innerjoin=True),
        )
        .execution_options(populate_existing=True)
    )


@dataclass(frozen=True, slots=True)
class OrderView:
    order: Order
    facts: OrderFacts
    verdicts: dict[str, ItemVerdict]

    def line(self, ref: str) -> OrderLine:
        return next(line for line in self.order.lines if line.line_ref == ref)


async def order_view(
    session: AsyncSession, order: Order, policy: LoadedPolicy, now: datetime
) -> OrderView:
    facts = await policy_service.order_facts(session, order, policy, now)
    verdicts = {
        item.line_ref: item_verdict(policy.policy, facts, item, now) for item in facts.items
    }
    return OrderView(order, facts, verdicts)


async def variants(session: AsyncSession, product: Product) -> list[Product]:
    """Other variants of the product (same group), for an exchange or 'which size fits'."""
    if not product.product_group:
        return []
    return list(
        await session.scalars(
            select(Product)
            .where(Product.product_group == product.product_group, Product.id != product.id)
            .order_by(Product.sku)
        )
    )


async def returns_of(session: AsyncSession, order: Order) -> list[Return]:
    return list(
        await session.scalars(
            select(Return).where(Return.order_id == order.id).order_by(Return.id.desc())
        )
    )


async def return_for_order(session: AsyncSession, number: str, order_id: str) -> Return | None:
    """The return, only if it belongs to the session's order: any other is 'not found'."""
    return await session.scalar(
        select(Return)
        .join(Order, Return.order_id == Order.id)
        .where(Return.number == number, Order.external_id == order_id)
        .options(
            selectinload(Return.lines)
            .selectinload(ReturnLine.order_line)
            .joinedload(OrderLine.product),
            selectinload(Return.lines).selectinload(ReturnLine.photos),
            selectinload(Return.events),
            joinedload(Return.order, innerjoin=True),
            joinedload(Return.facility),
        )
    )
