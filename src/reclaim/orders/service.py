"""Orders as the shop reports them: upserted by the shop's order number."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from reclaim.catalog.service import upsert_product
from reclaim.db import insert_ignoring_conflict
from reclaim.errors import Conflict, NotFound
from reclaim.kit.clock import utcnow
from reclaim.orders.models import Customer, Order, OrderLine, OrderPayment
from reclaim.orders.schemas import CustomerIn, OrderIn, PaymentIn


@dataclass(frozen=True, slots=True)
class UpsertResult:
    order: Order
    created: bool


async def upsert_customer(session: AsyncSession, data: CustomerIn) -> Customer:
    email = data.email.lower()
    if data.id:
        await insert_ignoring_conflict(
            session,
            Customer,
            {"external_id": data.id, "email": email, "name": data.name, "tier": data.tier},
            ["external_id"],
        )
        customer = await session.scalar(select(Customer).where(Customer.external_id == data.id))
    else:
        customer = await session.scalar(
            select(Customer)
            .where(Customer.external_id.is_(None), func.lower(Customer.email) == email)
            .order_by(Customer.id)
            .limit(1)
        )
        if customer is None:
            customer = Customer(email=email, name=data.name, tier=data.tier)
            session.add(customer)
            await session.flush()
    assert customer is not None
    customer.email = email
    customer.name = data.name or customer.name
    customer.tier = data.tier
    return customer


async def upsert_order(session: AsyncSession, data: OrderIn) -> UpsertResult:
    """Create the order, or bring it up to date without breaking any return made against it."""
    customer = await upsert_customer(session, data.customer)
    address = data.shipping_address
    header = {
        "customer_id": customer.id,
        "currency": data.currency,
        "placed_at": data.placed_at,
        "delivered_at": data.delivered_at,
        "shipping_minor": data.shipping_minor,
        "discount_minor": data.discount_minor,
        "ship_line1": address.line1 if address else None,
        "ship_line2": address.line2 if address else None,
        "ship_city": address.city if address else None,
        "ship_region": address.region if address else None,
        "ship_postcode": address.postcode if address else None,
        "ship_country": address.country.upper() if address and address.country else None,
        "ship_lat": address.lat if address else None,
        "ship_lon": address.lon if address else None,
    }
    existing = await _locked_order(session, data.order_id)
    created = False
    if existing is None:
        # A racing upsert may insert it first; only the one whose insert took says "created".
        created = await insert_ignoring_conflict(
            session, Order, {"external_id": data.order_id, **header}, ["external_id"]
        )
        existing = await _locked_order(session, data.order_id)
        assert existing is not None
    order = existing
    if order.currency != data.currency and (
        any(line.returned_quantity for line in order.lines) or await _has_refunds(session, order)
    ):
        raise Conflict(
            f"Order {data.order_id} has returns or refunds in {order.currency}; "
            "its currency can't change.",
            order_id=data.order_id,
        )
    for field, value in header.items():
        setattr(order, field, value)
    await _sync_lines(session, order, data)
    await _sync_payments(session, order, data)
    if session.is_modified(order) or any(session.is_modified(line) for line in order.lines):
        # Analytics re-reads orders by when they changed: an edit to the lines alone must
        # say so too, though the header's own columns are as they were.
        order.updated_at = utcnow()
    await session.flush()
    return UpsertResult(order, created)


async def _locked_order(session: AsyncSession, external_id: str) -> Order | None:
    return await session.scalar(
        select(Order)
        .where(Order.external_id == external_id)
        .options(selectinload(Order.lines), selectinload(Order.payments))
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _lines_with_returns(session: AsyncSession, order: Order) -> set[int]:
    # Any return line, even of a cancelled return, still points at its order line.
    from reclaim.returns.models import ReturnLine

    ids = [line.id for line in order.lines]
    if not ids:
        return set()
    return set(
        await session.scalars(
            select(ReturnLine.order_line_id).where(ReturnLine.order_line_id.in_(ids)).distinct()
        )
    )


async def _sync_lines(session: AsyncSession, order: Order, data: OrderIn) -> None:
    current = {line.line_ref: line for line in order.lines}
    incoming = dict(zip(data.line_refs(), data.lines, strict=True))
    returned = await _lines_with_returns(session, order)
    for ref, existing in current.items():
        if existing.id not in returned:
            continue
        item = incoming.get(ref)
        if item is None:
            raise Conflict(
                f"Order line {ref!r} of {order.external_id} has returns and can't be removed.",
                line_ref=ref,
            )
        if (item.sku, item.unit_price_minor, item.discount_minor) != (
            existing.sku,
            existing.unit_price_minor,
            existing.discount_minor,
        ):
            raise Conflict(
                f"Order line {ref!r} of {order.external_id} has returns; its SKU, price and "
                "discount can't change.",
                line_ref=ref,
            )
    for ref, existing in list(current.items()):
        if ref not in incoming:
            order.lines.remove(existing)
    # Products in one order, always in SKU order: concurrent orders sharing SKUs then take
    # their row locks in the same order and can't deadlock.
    products = {}
    for item in sorted(incoming.values(), key=lambda item: item.sku):
        products[item.sku] = await upsert_product(
            session, item.sku, data.currency, item.product, unit_price_minor=item.unit_price_minor
        )
    for ref, item in incoming.items():
        product = products[item.sku]
        found = current.get(ref)
        if found is None:
            line = OrderLine(line_ref=ref, returned_quantity=0)
            order.lines.append(line)
        else:
            line = found
        if item.quantity < line.returned_quantity:
            raise Conflict(
                f"Order line {ref!r} of {order.external_id} already has "
                f"{line.returned_quantity} returned; "
                f"its quantity can't drop to {item.quantity}.",
                line_ref=ref,
            )
        line.product_id = product.id
        line.sku = item.sku
        line.quantity = item.quantity
        line.unit_price_minor = item.unit_price_minor
        line.discount_minor = item.discount_minor
        line.tax_minor = item.tax_minor


Paid = tuple[str, int, str | None, str | None]


def _paid(payment: PaymentIn | OrderPayment) -> Paid:
    return (payment.method, payment.captured_minor, payment.reference, payment.last4)


async def _has_refunds(session: AsyncSession, order: Order) -> bool:
    # Even a failed or declined refund names the payments it went to: they stay as they are.
    from reclaim.refunds.models import Refund

    if order.given_back_minor > 0 or any(p.refunded_minor > 0 for p in order.payments):
        return True
    return bool(await session.scalar(select(exists().where(Refund.order_id == order.id))))


async def _sync_payments(session: AsyncSession, order: Order, data: OrderIn) -> None:
    """The payments as given; none given: those we have if they still add up, else one
    payment of unknown method for the whole total."""
    total = data.total_minor()
    current = [_paid(payment) for payment in order.payments]
    if data.payments is not None:
        wanted = [_paid(payment) for payment in data.payments]
    elif order.payments and sum(paid[1] for paid in current) == total:
        wanted = current
    else:
        wanted = [("original", total, None, None)]
    if wanted == current:
        return
    if await _has_refunds(session, order):
        raise Conflict(
            f"Order {order.external_id} has refunds against it; its payments and total "
            "can't change.",
            order_id=order.external_id,
        )
    order.paid_minor = total
    # Rows are reused by position: deleting and re-adding one would clash on the position.
    for position, (method, captured, reference, last4) in enumerate(wanted, start=1):
        if position <= len(order.payments):
            payment = order.payments[position - 1]
        else:
            payment = OrderPayment(position=position, refunded_minor=0)
            order.payments.append(payment)
        payment.method = method
        payment.captured_minor = captured
        payment.reference = reference
        payment.last4 = last4
    del order.payments[len(wanted) :]


async def get_order(session: AsyncSession, external_id: str) -> Order:
    order = await session.scalar(
        select(Order)
        .where(Order.external_id == external_id)
        .options(
            selectinload(Order.lines),
            selectinload(Order.customer),
            selectinload(Order.payments),
        )
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound(f"No order {external_id!r}.", order_id=external_id)
    return order
