"""Exchanges: the replacement sent for returned lines, its price difference, and its shipping.

An exchange counts against what the order may give back only once: the exchange itself
holds ``min(value, price)`` at the order, and a positive difference is held by the refund
that pays it. A negative difference is for the shop to charge the shopper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.catalog.models import Product
from reclaim.errors import Conflict, NotFound, ValidationFailed
from reclaim.notifications.outbox import enqueue
from reclaim.refunds import service
from reclaim.refunds.models import Exchange, Refund
from reclaim.refunds.rules import LineSettlement
from reclaim.returns.lifecycle import Actor
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.rules import normalise_return_number
from reclaim.warehouse.numbers import canonical, random_chars

PREFIX = "EX-"
MAX_CARRIER = 32
MAX_TRACKING = 64


class ExchangeStatus(StrEnum):
    CREATED = "created"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


def canonical_number(number: str) -> str:
    return canonical(number, PREFIX, "exchange")


Settle = Literal["refund", "charge", "none"]


def settles_by(difference_minor: int) -> Settle:
    """How the difference is settled: refunded to the shopper, charged by the shop, or not."""
    if difference_minor > 0:
        return "refund"
    return "charge" if difference_minor < 0 else "none"


@dataclass(frozen=True, slots=True)
class Replacement:
    """What is sent for one returned line: ``units`` of a product at its unit price."""

    line: ReturnLine
    settlement: LineSettlement
    product: Product
    unit_price_minor: int

    def item(self) -> dict[str, Any]:
        return {
            "line_id": self.line.order_line.line_ref,
            "sku": self.product.sku,
            "name": self.product.name,
            "quantity": self.settlement.units,
            "unit_price_minor": self.unit_price_minor,
        }


async def replacements(
    session: AsyncSession, ret: Return, settled: Sequence[tuple[ReturnLine, LineSettlement]]
) -> list[Replacement]:
    """The variant each line asked for (the same product when it named none), priced from the
    catalogue, or at what the shopper paid a unit when the catalogue prices in another currency."""
    skus = {line.exchange_sku or line.order_line.sku for line, _ in settled}
    found = await session.scalars(select(Product).where(Product.sku.in_(skus)))
    by_sku = {product.sku: product for product in found}
    chosen = []
    for line, settlement in settled:
        product = by_sku.get(line.exchange_sku or line.order_line.sku)
        if product is None:  # the variant left the catalogue: the same item again
            product = await session.get_one(Product, line.order_line.product_id)
        unit = (
            product.price_minor
            if product.currency == ret.currency
            else line.order_line.unit_price_minor
        )
        chosen.append(Replacement(line, settlement, product, unit))
    return chosen


async def create_exchange(
    session: AsyncSession,
    ret: Return,
    settled_lines: Sequence[tuple[ReturnLine, LineSettlement]],
    actor: Actor,
    *,
    instant: bool,
) -> Exchange:
    """One exchange for the lines just settled; their value goes toward the new items."""
    chosen = await replacements(session, ret, settled_lines)
    value = sum(replacement.settlement.value_minor for replacement in chosen)
    price = sum(r.unit_price_minor * r.settlement.units for r in chosen)
    exchange = Exchange(
        number=f"{PREFIX}{random_chars()}",
        return_id=ret.id,
        order_id=ret.order_id,
        status=ExchangeStatus.CREATED,
        instant=instant,
        currency=ret.currency,
        value_minor=value,
        price_minor=price,
        difference_minor=value - price,
        items=[replacement.item() for replacement in chosen],
        created_at=actor.now,
    )
    if min(value, price) > 0:
        await service.reserve(session, ret.order_id, min(value, price))
    session.add(exchange)
    await session.flush()
    # The difference is paid once the returned units are here: an instant exchange or one
    # due at the first scan could still end with nothing coming back.
    refund = await _refund_difference(session, ret, exchange, actor)
    enqueue(
        session,
        "exchange.created",
        exchange.number,
        {
            "exchange": exchange.number,
            "return": ret.number,
            "order": ret.order.external_id,
            "instant": instant,
            "items": exchange.items,
            "value_minor": value,
            "price_minor": price,
            "difference_minor": exchange.difference_minor,
            "settle": settles_by(exchange.difference_minor),
            "currency": exchange.currency,
            **({"refund": refund.number} if refund else {}),
        },
        actor.now,
    )
    return exchange


def _arrived(ret: Return, exchange: Exchange) -> bool:
    received = {line.order_line.line_ref: line.received_quantity for line in ret.lines}
    return all(received.get(str(item["line_id"]), 0) >= item["quantity"] for item in exchange.items)


async def _refund_difference(
    session: AsyncSession, ret: Return, exchange: Exchange, actor: Actor
) -> Refund | None:
    if exchange.difference_minor <= 0 or exchange.refund_id is not None:
        return None
    if exchange.status == ExchangeStatus.CANCELLED or not _arrived(ret, exchange):
        return None
    refund = await service.request_refund(
        session,
        order=ret.order,
        ret=ret,
        amount_minor=exchange.difference_minor,
        kind="exchange_difference",
        actor=actor,
        reason=f"The returned items were worth more than their exchange {exchange.number}.",
        breakdown={
            "exchange": exchange.number,
            "value_minor": exchange.value_minor,
            "price_minor": exchange.price_minor,
        },
    )
    exchange.refund_id = refund.id
    return refund


async def refund_differences_due(session: AsyncSession, ret: Return, actor: Actor) -> None:
    """Pay the differences of this return's exchanges whose returned units have now arrived;
    ``ret`` is locked, so each is paid once."""
    waiting = await session.scalars(
        select(Exchange)
        .where(
            Exchange.return_id == ret.id,
            Exchange.refund_id.is_(None),
            Exchange.difference_minor > 0,
            Exchange.status != ExchangeStatus.CANCELLED,
        )
        .order_by(Exchange.id)
    )
    for exchange in list(waiting):
        await _refund_difference(session, ret, exchange, actor)


def _text(value: str, field: str, limit: int) -> str:
    said = value.strip()
    if not said or len(said) > limit or "\x00" in said:
        raise ValidationFailed(f"Give the {field} (1 to {limit} characters).", field=field)
    return said


async def mark_shipped(
    session: AsyncSession, number: str, carrier: str, tracking_number: str, actor: Actor
) -> Exchange:
    """The replacement left the shop: once, with how to follow it; the shopper is told."""
    carrier = _text(carrier, "carrier", MAX_CARRIER)
    tracking_number = _text(tracking_number, "tracking number", MAX_TRACKING)
    exchange = await get_exchange(session, number)
    # The return first, as every change to it does: a cancel racing this either sees the
    # exchange shipped (and is refused) or cancels it first (and nothing ships).
    return_number = await session.scalar(
        select(Return.number).where(Return.id == exchange.return_id).with_for_update()
    )
    assert return_number is not None  # an exchange is always made for a return
    shipped = await session.execute(
        update(Exchange)
        .where(Exchange.id == exchange.id, Exchange.status == ExchangeStatus.CREATED)
        .values(
            status=ExchangeStatus.SHIPPED,
            carrier=carrier,
            tracking_number=tracking_number,
            shipped_at=actor.now,
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(exchange)
    if shipped.rowcount != 1:  # type: ignore[attr-defined]
        if exchange.status == ExchangeStatus.SHIPPED:
            raise Conflict(
                f"Exchange {exchange.number} was already shipped with {exchange.carrier} "
                f"({exchange.tracking_number}).",
                number=exchange.number,
            )
        raise Conflict(
            f"Exchange {exchange.number} was cancelled with its return; nothing ships.",
            number=exchange.number,
        )
    enqueue(
        session,
        "exchange.shipped",
        return_number,
        {
            "return": return_number,
            "exchange": exchange.number,
            "items": [
                {"sku": item["sku"], "name": item["name"], "quantity": item["quantity"]}
                for item in exchange.items
            ],
            "carrier": carrier,
            "tracking_number": tracking_number,
        },
        actor.now,
    )
    return exchange


async def on_return_ended(session: AsyncSession, ret: Return, actor: Actor) -> None:
    """A return called off takes back its unshipped exchanges and what they held at the order.

    No difference was refunded for them: that waits for the returned units to arrive."""
    pending = list(
        await session.scalars(
            select(Exchange)
            .where(Exchange.return_id == ret.id, Exchange.status == ExchangeStatus.CREATED)
            .order_by(Exchange.id)
            .with_for_update()
        )
    )
    for exchange in pending:
        exchange.status = ExchangeStatus.CANCELLED
        held = min(exchange.value_minor, exchange.price_minor)
        if held > 0:
            await service.release(session, ret.order_id, held)
        # The lines it settled are settled no more: nothing went out for them.
        refs = {str(item["line_id"]) for item in exchange.items}
        for line in ret.lines:
            if line.order_line.line_ref in refs:
                line.settled_at, line.settled_quantity, line.settled_minor = None, 0, 0
        enqueue(
            session,
            "exchange.cancelled",
            exchange.number,
            {
                "exchange": exchange.number,
                "return": ret.number,
                "reason": f"Return {ret.number} was {ret.status}: the replacement isn't sent.",
            },
            actor.now,
        )


async def get_exchange(session: AsyncSession, number: str) -> Exchange:
    found = await session.scalar(
        select(Exchange).where(Exchange.number == canonical_number(number))
    )
    if found is None:
        raise NotFound(f"No exchange {number!r}.", number=number)
    return found


async def exchanges_of_return(session: AsyncSession, return_id: int) -> list[Exchange]:
    return list(
        await session.scalars(
            select(Exchange).where(Exchange.return_id == return_id).order_by(Exchange.id)
        )
    )


async def list_exchanges(
    session: AsyncSession,
    *,
    return_number: str | None,
    status: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[tuple[Exchange, str]], str | None]:
    """Newest first with their return numbers; the cursor is the last exchange number seen."""
    query = (
        select(Exchange, Return.number)
        .join(Return, Return.id == Exchange.return_id)
        .order_by(Exchange.id.desc())
        .limit(limit + 1)
    )
    if return_number is not None:
        query = query.where(Return.number == normalise_return_number(return_number))
    if status is not None:
        query = query.where(Exchange.status == status)
    if after is not None:
        try:
            anchor = await session.scalar(
                select(Exchange.id).where(Exchange.number == canonical_number(after))
            )
        except NotFound:
            anchor = None
        if anchor is None:  # else the page would be empty and the client think it had all
            raise ValidationFailed(f"Unknown cursor {after!r}.", cursor=after)
        query = query.where(Exchange.id < anchor)
    rows = [(exchange, number) for exchange, number in (await session.execute(query)).all()]
    page, more = rows[:limit], len(rows) > limit
    return page, (page[-1][0].number if more and page else None)
