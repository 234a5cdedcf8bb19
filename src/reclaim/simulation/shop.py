"""The shop's side of a simulated season, at the end of each day: its payment system confirms
the refunds Reclaim asked for (a few fail and an agent retries them), its warehouse ships the
exchanges, and shoppers spend some of their store credit at its checkout."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.orders.models import Customer, Order
from reclaim.refunds import credit, exchanges
from reclaim.refunds import service as refunds
from reclaim.refunds.models import CreditAccount, Exchange, Refund
from reclaim.refunds.schemas import ConfirmationIn
from reclaim.returns import service as returns
from reclaim.returns.lifecycle import Actor
from reclaim.returns.models import Return

RunStep = Callable[[str, Callable[[AsyncSession], Awaitable[object]]], Awaitable[bool]]
FAILURE_RATE = 0.04
FAILURES = ("Card expired.", "The card issuer declined the refund.", "Gift card closed.")
# Chance a shopper with store credit spends some of it on a given day.
SPEND_RATE = 0.12
PAYMENTS = "shop:payments"
AGENT = "staff:agent@demo.test"


class Shop:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rng: random.Random,
        order_prefix: str,
        run_step: RunStep,
    ) -> None:
        self.sessions = sessions
        self.rng = rng
        self.prefix = order_prefix
        self.run_step = run_step
        self.checkouts = 0

    async def end_of_day(self, day_end: datetime) -> None:
        await self._confirm_refunds(day_end)
        await self._retry_failures(day_end)
        await self._ship_exchanges(day_end)
        await self._spend_credit(day_end)

    def _when(self, since: datetime, day_end: datetime, hours: float) -> datetime:
        """A moment some minutes to ``hours`` after ``since``, but within the day."""
        later = since + timedelta(minutes=self.rng.uniform(5, hours * 60))
        return min(later, day_end - timedelta(seconds=1))

    async def _rows(self, query: Select[str, datetime | None]) -> list[tuple[str, datetime]]:
        """(number, when) pairs; a row without its moment has nothing to follow yet."""
        async with transaction(self.sessions) as session:
            return [(name, at) for name, at in (await session.execute(query)).all() if at]

    async def _confirm_refunds(self, day_end: datetime) -> None:
        pending = await self._rows(
            select(Refund.number, Refund.requested_at)
            .join(Order, Order.id == Refund.order_id)
            .where(
                Order.external_id.startswith(self.prefix),
                Refund.status == "requested",
                Refund.requested_at < day_end,
            )
            .order_by(Refund.id)
        )
        for number, requested_at in pending:
            when = self._when(requested_at, day_end, 6)
            failed = self.rng.random() < FAILURE_RATE
            data = ConfirmationIn(
                event="refund.failed" if failed else "refund.succeeded",
                reference=None if failed else f"re_{self.rng.getrandbits(48):012x}",
                reason=self.rng.choice(FAILURES) if failed else None,
            )
            await self.run_step(
                "confirm refund",
                partial(_confirm, number=number, data=data, actor=Actor(PAYMENTS, when)),
            )

    async def _retry_failures(self, day_end: datetime) -> None:
        retried = select(Refund.retry_of).where(Refund.retry_of.is_not(None))
        failed = await self._rows(
            select(Refund.number, Refund.settled_at)
            .join(Order, Order.id == Refund.order_id)
            .where(
                Order.external_id.startswith(self.prefix),
                Refund.status == "failed",
                Refund.settled_at < day_end - timedelta(hours=2),
                Refund.id.not_in(retried),
            )
            .order_by(Refund.id)
        )
        for number, settled_at in failed:
            when = self._when(settled_at, day_end, 20)
            await self.run_step(
                "retry refund", partial(_retry, number=number, actor=Actor(AGENT, when))
            )

    async def _ship_exchanges(self, day_end: datetime) -> None:
        created = await self._rows(
            select(Exchange.number, Exchange.created_at)
            .join(Order, Order.id == Exchange.order_id)
            .where(
                Order.external_id.startswith(self.prefix),
                Exchange.status == "created",
                Exchange.created_at < day_end - timedelta(hours=12),
            )
            .order_by(Exchange.id)
        )
        for number, created_at in created:
            when = self._when(created_at + timedelta(hours=12), day_end, 12)
            tracking = f"RX{self.rng.getrandbits(40):010d}"[:20]
            await self.run_step(
                "ship exchange",
                partial(
                    _ship,
                    number=number,
                    tracking=tracking,
                    actor=Actor("shop:warehouse", when),
                ),
            )

    async def _spend_credit(self, day_end: datetime) -> None:
        async with transaction(self.sessions) as session:
            holders = (
                await session.execute(
                    select(CreditAccount.customer_id, CreditAccount.currency)
                    .where(
                        CreditAccount.balance_minor > 0,
                        CreditAccount.customer_id.in_(
                            select(Order.customer_id).where(
                                Order.external_id.startswith(self.prefix)
                            )
                        ),
                    )
                    .order_by(CreditAccount.id)
                )
            ).all()
        day_start = day_end - timedelta(days=1)
        for customer_id, currency in holders:
            if customer_id is None or self.rng.random() >= SPEND_RATE:
                continue
            self.checkouts += 1
            when = day_start + timedelta(seconds=self.rng.randrange(86_400))
            await self.run_step(
                "spend credit",
                partial(
                    _spend,
                    customer_id=customer_id,
                    currency=currency,
                    share=self.rng.uniform(0.3, 1.0),
                    reference=f"{self.prefix}CHK-{self.checkouts}",
                    actor=Actor("shop:checkout", when),
                ),
            )


async def _confirm(
    session: AsyncSession, *, number: str, data: ConfirmationIn, actor: Actor
) -> None:
    await refunds.confirm(session, number, data, actor)


async def _retry(session: AsyncSession, *, number: str, actor: Actor) -> None:
    refund = await refunds.retry(session, number, actor)
    if refund.return_id is None:
        return
    ret = await session.get(Return, refund.return_id)
    # The flag the failure raised, and nothing else someone still has to look at.
    if ret is not None and (ret.attention or "").startswith(f"Refund {number} failed"):
        await returns.resolve_attention(
            session, ret.number, actor, f"Refund tried again as {refund.number}."
        )


async def _ship(session: AsyncSession, *, number: str, tracking: str, actor: Actor) -> None:
    await exchanges.mark_shipped(session, number, "local", tracking, actor)


async def _spend(
    session: AsyncSession,
    *,
    customer_id: int,
    currency: str,
    share: float,
    reference: str,
    actor: Actor,
) -> None:
    held = (await credit.balances(session, customer_id)).get(currency, 0)
    amount = max(1, int(held * share))
    customer = await session.get(Customer, customer_id)
    if customer is None or held <= 0:
        return
    await credit.spend(
        session,
        customer=customer,
        amount_minor=min(amount, held),
        currency=currency,
        reference=reference,
        actor=actor,
    )
