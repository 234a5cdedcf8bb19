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
    # Messages whose fan-out failed, and the latest such failure: (message id, error).
    fanout_failed: int = 0
    fanout_error: tuple[int, str] | None = None

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
    failing = OutboxMessage.dispatched_at.is_(None) & OutboxMessage.fanout_error.is_not(None)
    failed = await session.scalar(select(func.count()).select_from(OutboxMessage).where(failing))
    latest = (
        await session.execute(
            select(OutboxMessage.id, OutboxMessage.fanout_error)
            .where(failing)
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
    ).first()
    return OutboxStatus(
        counts,
        int(undispatched or 0),
        oldest,
        due,
        int(failed or 0),
        (latest[0], latest[1] or "") if latest else None,
    )
