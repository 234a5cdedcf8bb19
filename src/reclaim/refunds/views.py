"""How a return's money stands, read in one go for the console and the portal: each line's
settlement or when it is due, the refunds with their parts per payment method, the store credit
issued, and the exchanges."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from reclaim.orders.models import Order, OrderLine, OrderPayment
from reclaim.policy.schema import RefundTiming
from reclaim.refunds import credit, service, settlement
from reclaim.refunds.exchanges import exchanges_of_return
from reclaim.refunds.models import CreditTransaction, Exchange, Refund
from reclaim.refunds.settlement import DueLine
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.states import TERMINAL, Resolution, Status

# When a line's money is due, as the panel says it: "Refund due at receipt".
WHEN = {
    RefundTiming.IMMEDIATELY: "now",
    RefundTiming.AT_FIRST_SCAN: "at the carrier's first scan",
    RefundTiming.AT_RECEIPT: "at receipt",
    RefundTiming.AFTER_INSPECTION: "after inspection",
}
WHAT = {
    Resolution.REFUND: "Refund",
    Resolution.KEEP_ITEM: "Refund",
    Resolution.STORE_CREDIT: "Store credit",
    Resolution.EXCHANGE: "Exchange",
}
GIVEN = {
    Resolution.REFUND: "Refunded",
    Resolution.KEEP_ITEM: "Refunded",
    Resolution.STORE_CREDIT: "Credited",
    Resolution.EXCHANGE: "Put toward the exchange",
}


@dataclass(frozen=True, slots=True)
class LineMoney:
    """One return line: what it gave back, or what it is expected to give and when."""

    line: ReturnLine  # with its order line and product
    expected_minor: int | None  # the decision's quote for the whole line, when one was recorded
    due_units: int  # units that could be settled right now
    outlook: str  # "Refunded 2 units on 3 Dec 2025" / "Refund due at receipt"

    @property
    def settled(self) -> bool:
        return self.line.settled_at is not None


@dataclass(frozen=True, slots=True)
class ReturnMoney:
    currency: str
    held: str | None  # why nothing is settled until a person looks, if so
    lines: tuple[LineMoney, ...]
    refunds: tuple[Refund, ...]  # oldest first, parts and their payments loaded
    retried: frozenset[int]  # ids of failed refunds already tried again
    credit: tuple[CreditTransaction, ...]
    exchanges: tuple[Exchange, ...]
    payments: tuple[OrderPayment, ...]
    paid_minor: int  # what the order's payments captured
    given_back_minor: int  # refunds, credit principal and exchange value counted against it

    @property
    def left_minor(self) -> int:
        return self.paid_minor - self.given_back_minor

    @property
    def due_now(self) -> bool:
        return any(line.due_units for line in self.lines)

    def can_retry(self, refund: Refund) -> bool:
        return refund.status == "failed" and refund.id not in self.retried


def _units(n: int) -> str:
    return f"{n} unit{'s' if n != 1 else ''}"


def _outlook(line: ReturnLine, due: DueLine | None, status: Status, held: str | None) -> str:
    resolution = Resolution(line.resolution)
    if line.settled_at is not None:
        moment = line.settled_at
        return (
            f"{GIVEN[resolution]}: {_units(line.settled_quantity)} of {line.quantity}, "
            f"on {moment.day} {moment:%b %Y}"
        )
    if status in TERMINAL:
        return f"Nothing due: the return is {status.value}"
    if due is None:
        return f"{WHAT[resolution]} once the return is approved"
    if held and due.units:
        return f"{WHAT[resolution]} held until someone looks"
    if due.units:
        return f"{WHAT[resolution]} due now for {_units(due.units)}"
    return f"{WHAT[resolution]} due {WHEN[due.timing]}"


def _expected(ret: Return) -> dict[str, int]:
    quote = (ret.decision or {}).get("quote") or {}
    return {
        str(line["line_id"]): int(line["amount_minor"])
        for line in quote.get("lines") or []
        if isinstance(line, dict) and "line_id" in line and "amount_minor" in line
    }


async def money_of_return(session: AsyncSession, ret: Return) -> ReturnMoney:
    """Everything the return has given back so far, and what is still to come and when."""
    lines = list(
        await session.scalars(
            select(ReturnLine)
            .where(ReturnLine.return_id == ret.id)
            .options(joinedload(ReturnLine.order_line).joinedload(OrderLine.product))
            .order_by(ReturnLine.id)
        )
    )
    if "lines" in inspect(ret).unloaded:
        # The timing rules read the return's lines; these are the same rows, now loaded.
        set_committed_value(ret, "lines", lines)
    status = Status(ret.status)
    settling = status in settlement.SETTLING
    held = await settlement.held_because(session, ret) if settling else None
    due = (
        {d.line.id: d for d in (await settlement.what_is_due(session, ret)).lines}
        if settling
        else {}
    )
    expected = _expected(ret)
    shown = tuple(
        LineMoney(
            line,
            expected.get(line.order_line.line_ref),
            due[line.id].units if line.id in due and not held else 0,
            _outlook(line, due.get(line.id), status, held),
        )
        for line in lines
    )
    refunds = await service.refunds_of_return(session, ret.id)
    retried = frozenset(refund.retry_of for refund in refunds if refund.retry_of is not None)
    issued = await credit.credit_of_return(session, ret.id)
    exchanges = await exchanges_of_return(session, ret.id)
    payments = await session.scalars(
        select(OrderPayment)
        .where(OrderPayment.order_id == ret.order_id)
        .order_by(OrderPayment.position)
    )
    order = (
        await session.execute(
            select(Order.paid_minor, Order.given_back_minor).where(Order.id == ret.order_id)
        )
    ).one()
    return ReturnMoney(
        currency=ret.currency,
        held=held,
        lines=shown,
        refunds=tuple(refunds),
        retried=retried,
        credit=tuple(issued),
        exchanges=tuple(exchanges),
        payments=tuple(payments),
        paid_minor=int(order.paid_minor),
        given_back_minor=int(order.given_back_minor),
    )
