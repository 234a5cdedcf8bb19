"""How a return's money stands, in the shopper's words: refunds per payment method, store
credit added, the exchange, and the shopper's store-credit balance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.kit.money import Money
from reclaim.orders.models import OrderPayment
from reclaim.refunds import credit, exchanges, service
from reclaim.refunds.models import Exchange, Refund, RefundPart
from reclaim.returns.models import Return


@dataclass(frozen=True, slots=True)
class ShopperMoney:
    refunds: tuple[str, ...]
    credit: tuple[str, ...]
    exchanges: tuple[str, ...]
    balances: tuple[str, ...]  # "24.00 USD", one per currency the shopper has credit in

    @property
    def anything(self) -> bool:
        return bool(self.refunds or self.credit or self.exchanges)


def _money(minor: int, currency: str) -> str:
    return Money(minor, currency).format()


def _day(moment: datetime | None) -> str:
    return f"{moment.day} {moment:%b %Y}" if moment else ""


def where_to(payment: OrderPayment) -> str:
    """Where refunded money goes, as the shopper knows it: "your card ending 4242"."""
    if payment.method == "card":
        return f"your card ending {payment.last4}" if payment.last4 else "your card"
    if payment.method == "gift_card":
        return "your gift card"
    if payment.method == "paypal":
        return "your PayPal account"
    return "your original payment method"


def _part(part: RefundPart, currency: str, refund_status: str) -> str | None:
    amount, place = _money(part.amount_minor, currency), where_to(part.payment)
    if part.status == "succeeded":
        return f"{amount} was refunded to {place} on {_day(part.settled_at)}."
    if part.status == "requested":
        return f"{amount} is on its way back to {place}."
    if part.status == "failed":
        return (
            f"We couldn't refund {amount} to {place}. We're looking into it and will be in touch."
        )
    if refund_status == "pending_approval":
        return f"A refund of {amount} to {place} is waiting for our approval."
    return None  # declined: an agent's proposal that never was the shopper's


def _refunds(refunds: list[Refund]) -> list[str]:
    # A failed part that was tried again is told by its retry; the parts that went through
    # are still told.
    retried = {refund.retry_of for refund in refunds if refund.retry_of is not None}
    said = []
    for refund in refunds:
        for part in refund.parts:
            if refund.id in retried and part.status == "failed":
                continue
            line = _part(part, refund.currency, refund.status)
            if line is not None:
                said.append(line)
    return said


def _exchange(exchange: Exchange) -> list[str]:
    items = ", ".join(
        f"{item['name']}" + (f" × {item['quantity']}" if item["quantity"] > 1 else "")
        for item in exchange.items
    )
    if exchange.status == "cancelled":
        return [f"Your exchange ({items}) was cancelled with your return."]
    if exchange.status == "shipped":
        said = [
            f"Your exchange ({items}) is on its way with {exchange.carrier}, tracking "
            f"{exchange.tracking_number}, sent {_day(exchange.shipped_at)}."
        ]
    else:
        ahead = " It's sent before your return reaches us." if exchange.instant else ""
        said = [f"We're preparing your exchange: {items}.{ahead}"]
    if exchange.difference_minor < 0:
        more = _money(-exchange.difference_minor, exchange.currency)
        said.append(f"The new items cost {more} more; we'll ask you to pay the difference.")
    return said


async def shopper_money(session: AsyncSession, ret: Return) -> ShopperMoney:
    refunds = await service.refunds_of_return(session, ret.id)
    issued = await credit.credit_of_return(session, ret.id)
    swaps = await exchanges.exchanges_of_return(session, ret.id)
    totals = await credit.balances(session, ret.customer_id)
    added = [
        f"{_money(txn.amount_minor, txn.currency)}"
        + (" bonus" if txn.kind == credit.BONUS else "")
        + f" store credit was added to your account on {_day(txn.at)}"
        + (f"; use it by {_day(txn.expires_at)}." if txn.expires_at else ".")
        for txn in issued
        if txn.kind in credit.LOTS
    ]
    return ShopperMoney(
        refunds=tuple(_refunds(refunds)),
        credit=tuple(added),
        exchanges=tuple(said for swap in swaps for said in _exchange(swap)),
        balances=tuple(_money(minor, cur) for cur, minor in totals.items() if minor or issued),
    )
