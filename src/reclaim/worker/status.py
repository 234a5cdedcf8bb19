"""How the outbox is doing: what waits, what is stuck, what is dead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.notifications.deliveries import DeliveryStatus
from reclaim.notifications.models import Delivery, OutboxMessage


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    # (channel, status) -> deliveries
    counts: dict[tuple[str, str], int]
    undispatched: int
    oldest_pending: datetime | None
    next_due: datetime | None

    def total(self, status: DeliveryStatus) -> int:
        return sum(n for (_, s), n in self.counts.items() if s == status.value)

    @property
    def channels(self) -> list[str]:
        return sorted({channel for channel, _ in self.counts})


async def outbox_status(session: AsyncSession) -> OutboxStatus:
    counts = {
        (channel, status): int(n)
        for channel, status, n in (
            await session.execute(
                select(Delivery.channel, Delivery.status, func.count()).group_by(
                    Delivery.channel, Delivery.status
                )
            )
        )
    }
    undispatched = await session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.dispatched_at.is_(None))
    )
    oldest, due = (
        await session.execute(
            select(func.min(Delivery.created_at), func.min(Delivery.next_attempt_at)).where(
                Delivery.status == DeliveryStatus.PENDING.value
            )
        )
    ).one()
    return OutboxStatus(counts, int(undispatched or 0), oldest, due)
