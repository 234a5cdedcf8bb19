"""Finding a return from whatever a person has to hand: an RMA, a tracking number, an order
number, or something of the customer's (e-mail address or name)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from reclaim.errors import ValidationFailed
from reclaim.logistics.models import Shipment
from reclaim.orders.models import Customer, Order
from reclaim.returns.models import Return
from reclaim.returns.rules import normalise_return_number

MAX_QUERY = 320
MAX_RESULTS = 50


@dataclass(frozen=True, slots=True)
class Found:
    # Set when the text names exactly one return (its RMA or tracking number): go straight there.
    exact: str | None = None
    returns: list[Return] = field(default_factory=list)
    more: bool = False  # more matched than are shown


def _contains(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _exact(session: AsyncSession, text: str) -> str | None:
    try:
        number = normalise_return_number(text)
    except ValidationFailed:
        number = None
    if number is not None:
        found = await session.scalar(select(Return.number).where(Return.number == number))
        if found:
            return found
    tracking = "".join(text.split()).upper()
    return await session.scalar(
        select(Return.number)
        .join(Shipment, Shipment.return_id == Return.id)
        .where(Shipment.tracking_number == tracking)
    )


async def search(session: AsyncSession, text: str) -> Found:
    """Returns matching the text, newest first: an exact RMA or tracking number alone, else
    those of an order with that number and of customers whose e-mail or name contains it."""
    typed = text.strip()
    # PostgreSQL can't even be asked about U+0000; nothing contains it anyway.
    if not typed or len(typed) > MAX_QUERY or "\x00" in typed:
        return Found()
    exact = await _exact(session, typed)
    if exact:
        return Found(exact=exact)
    pattern = _contains(typed)
    query = (
        select(Return)
        .join(Order, Order.id == Return.order_id)
        .join(Customer, Customer.id == Return.customer_id)
        .where(
            or_(
                Order.external_id == typed,
                func.lower(Customer.email).like(pattern, escape="\\"),
                func.lower(Customer.name).like(pattern, escape="\\"),
            )
        )
        .options(joinedload(Return.order), joinedload(Return.customer))
        .order_by(Return.id.desc())
        .limit(MAX_RESULTS + 1)
    )
    rows = list((await session.scalars(query)).unique())
    return Found(returns=rows[:MAX_RESULTS], more=len(rows) > MAX_RESULTS)
