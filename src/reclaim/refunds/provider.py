"""Who moves refund money: the payment provider, behind one protocol.

The built-in provider moves nothing itself. It records the refund in Reclaim's ledger and asks
the shop to execute it (webhook ``refund.requested``, one part per payment method); the shop
answers with ``POST /api/v1/refunds/{number}/confirmation``, which ``service.confirm`` applies.

A provider that refunds at once (a card processor's API, say) would make its calls in
``request`` and then confirm in the same transaction, so the refund is never left requested::

    async def request(self, session, refund, parts, now):
        outcomes = [await self.api.refund(part.payment.reference, part.amount_minor)
                    for part in parts]
        await service.confirm(session, refund.number, as_confirmation(outcomes),
                              Actor(self.name, now))

A call that times out is better left requested and confirmed later by the processor's own
webhook than guessed at.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.notifications.outbox import enqueue
from reclaim.orders.models import Order
from reclaim.refunds.models import Refund, RefundPart
from reclaim.returns.models import Return


class PaymentProvider(Protocol):
    name: str

    async def request(
        self, session: AsyncSession, refund: Refund, parts: Sequence[RefundPart], now: datetime
    ) -> None: ...


def payments_of(parts: Sequence[RefundPart], *, outcomes: bool = False) -> list[dict[str, Any]]:
    """The parts as the shop's systems read them: which payment, and how much back to it."""
    shown = []
    for part in parts:
        payment = part.payment
        entry: dict[str, Any] = {
            "position": payment.position,
            "method": payment.method,
            "reference": payment.reference,
            "last4": payment.last4,
            "amount_minor": part.amount_minor,
        }
        if outcomes:
            entry["status"] = part.status
            if part.provider_reference:
                entry["provider_reference"] = part.provider_reference
            if part.failure_reason:
                entry["reason"] = part.failure_reason
        shown.append(entry)
    return shown


def refund_payload(
    refund: Refund,
    parts: Sequence[RefundPart],
    *,
    order: str,
    ret: str | None,
    outcomes: bool = False,
) -> dict[str, Any]:
    """The body of ``refund.requested``, ``refund.succeeded`` and ``refund.failed``."""
    payload: dict[str, Any] = {
        "refund": refund.number,
        "order": order,
        "kind": refund.kind,
        "amount_minor": refund.amount_minor,
        "currency": refund.currency,
        "payments": payments_of(parts, outcomes=outcomes),
    }
    if ret is not None:
        payload["return"] = ret
    if refund.reason:
        payload["reason"] = refund.reason
    return payload


class BuiltinProvider:
    """Records the refund and asks the shop to execute it."""

    name = "builtin"

    async def request(
        self, session: AsyncSession, refund: Refund, parts: Sequence[RefundPart], now: datetime
    ) -> None:
        order, ret = await names_of(session, refund)
        enqueue(
            session,
            "refund.requested",
            refund.number,
            refund_payload(refund, parts, order=order, ret=ret),
            now,
        )


async def names_of(session: AsyncSession, refund: Refund) -> tuple[str, str | None]:
    """The order's and the return's numbers, as the shop knows them."""
    order = await session.scalar(select(Order.external_id).where(Order.id == refund.order_id))
    assert order is not None
    if refund.return_id is None:
        return order, None
    return order, await session.scalar(select(Return.number).where(Return.id == refund.return_id))


BUILTIN: PaymentProvider = BuiltinProvider()
