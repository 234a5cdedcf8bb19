"""Counting money given back: against the order, and against each payment it goes back to.

The order counts refunds, store credit (less any bonus) and exchange value together in
``given_back_minor``, within ``paid_minor``; each payment counts its refunds in
``refunded_minor``, within ``captured_minor``. Every change is a conditional update, so racing
requests can't both count the last of it; CHECK constraints back them up.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.errors import AmountExceeded, Conflict, ValidationFailed
from reclaim.orders.models import Order, OrderPayment
from reclaim.policy.facts import money
from reclaim.refunds import rules
from reclaim.refunds.models import RefundPart


async def _left_to_give(session: AsyncSession, order_id: int) -> tuple[int, int, str]:
    row = (
        await session.execute(
            select(Order.paid_minor, Order.given_back_minor, Order.currency).where(
                Order.id == order_id
            )
        )
    ).one()
    return int(row.paid_minor), int(row.given_back_minor), str(row.currency)


async def reserve(session: AsyncSession, order_id: int, amount_minor: int) -> None:
    """Count ``amount_minor`` as given back on the order, or ``AmountExceeded`` if that would
    give back more than the shopper paid."""
    if amount_minor <= 0:
        raise ValidationFailed("An amount to give back must be more than zero.")
    done = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.given_back_minor + amount_minor <= Order.paid_minor)
        .values(given_back_minor=Order.given_back_minor + amount_minor)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        paid, given, currency = await _left_to_give(session, order_id)
        left = max(paid - given, 0)
        raise AmountExceeded(
            f"Only {money(left, currency)} of the {money(paid, currency)} paid for this order "
            f"is left to give back; {money(amount_minor, currency)} is more than that.",
            amount_minor=amount_minor,
            left_minor=left,
        )


async def release(session: AsyncSession, order_id: int, amount_minor: int) -> None:
    """Give back to the order what a refund that didn't happen had counted."""
    if amount_minor <= 0:
        return
    done = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.given_back_minor >= amount_minor)
        .values(given_back_minor=Order.given_back_minor - amount_minor)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The order has less counted as given back than this refund releases.")


async def release_payment(session: AsyncSession, part: RefundPart) -> None:
    done = await session.execute(
        update(OrderPayment)
        .where(
            OrderPayment.id == part.payment_id,
            OrderPayment.refunded_minor >= part.amount_minor,
        )
        .values(refunded_minor=OrderPayment.refunded_minor - part.amount_minor)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The payment has less refunded than this refund releases.")


async def _locked_payments(session: AsyncSession, order_id: int) -> list[OrderPayment]:
    return list(
        await session.scalars(
            select(OrderPayment)
            .where(OrderPayment.order_id == order_id)
            .order_by(OrderPayment.position)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


async def take_from_payments(
    session: AsyncSession, order_id: int, amount_minor: int
) -> list[tuple[OrderPayment, int]]:
    """Split the amount over the order's payments, position first, and count each part."""
    payments = await _locked_payments(session, order_id)
    split = rules.split_refund(
        amount_minor,
        [
            rules.PaymentRoom(p.id, p.position, p.captured_minor - p.refunded_minor)
            for p in payments
        ],
    )
    by_id = {payment.id: payment for payment in payments}
    taken = []
    for payment_id, part in split:
        done = await session.execute(
            update(OrderPayment)
            .where(
                OrderPayment.id == payment_id,
                OrderPayment.refunded_minor + part <= OrderPayment.captured_minor,
            )
            .values(refunded_minor=OrderPayment.refunded_minor + part)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise AmountExceeded(
                "A payment of this order has less left to refund than this refund needs.",
                amount_minor=amount_minor,
            )
        taken.append((by_id[payment_id], part))
    return taken
