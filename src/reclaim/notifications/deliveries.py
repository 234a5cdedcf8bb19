"""The delivery log and the dead letters: what was sent where, every try, and sending again.

Shared by the API, the console and ``reclaim outbox``; it works for every channel alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.errors import Conflict, NotFound, ValidationFailed
from reclaim.notifications.models import Delivery, DeliveryAttempt, OutboxMessage


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    status: DeliveryStatus | None = None
    channel: str | None = None
    endpoint_id: int | None = None


@dataclass(frozen=True, slots=True)
class LoggedDelivery:
    """A delivery with the event it carries and its attempts, oldest attempt first."""

    delivery: Delivery
    topic: str
    attempts: list[DeliveryAttempt]


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 19:
        raise ValidationFailed(f"Unknown cursor {cursor!r}; pass next_cursor back as it came.")
    return int(cursor)


async def list_deliveries(
    session: AsyncSession,
    filters: DeliveryFilter,
    *,
    limit: int = 50,
    after: int | None = None,
) -> tuple[list[LoggedDelivery], str | None]:
    """Newest first, a page at a time; the cursor is the last delivery id seen."""
    query = (
        select(Delivery, OutboxMessage.topic)
        .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
        .order_by(Delivery.id.desc())
        .limit(limit + 1)
    )
    if filters.status is not None:
        query = query.where(Delivery.status == filters.status)
    if filters.channel is not None:
        query = query.where(Delivery.channel == filters.channel)
    if filters.endpoint_id is not None:
        query = query.where(Delivery.endpoint_id == filters.endpoint_id)
    if after is not None:
        query = query.where(Delivery.id < after)
    found = (await session.execute(query)).all()
    page, more = found[:limit], len(found) > limit
    attempts = await _attempts(session, [delivery.id for delivery, _topic in page])
    logged = [
        LoggedDelivery(delivery, topic, attempts.get(delivery.id, [])) for delivery, topic in page
    ]
    return logged, (str(page[-1][0].id) if more and page else None)


async def _attempts(
    session: AsyncSession, delivery_ids: list[int]
) -> dict[int, list[DeliveryAttempt]]:
    by_delivery: dict[int, list[DeliveryAttempt]] = {}
    if not delivery_ids:
        return by_delivery
    rows = await session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(delivery_ids))
        .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.number, DeliveryAttempt.id)
    )
    for attempt in rows:
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return by_delivery


async def get_delivery(session: AsyncSession, delivery_id: int) -> LoggedDelivery:
    row = (
        await session.execute(
            select(Delivery, OutboxMessage.topic)
            .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
            .where(Delivery.id == delivery_id)
            # Fresh from the database, not what the session held before an UPDATE.
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise NotFound(f"No delivery {delivery_id}.", delivery_id=delivery_id)
    delivery, topic = row
    attempts = await _attempts(session, [delivery.id])
    return LoggedDelivery(delivery, topic, attempts.get(delivery.id, []))


def _revive(now: datetime) -> dict[str, object]:
    # Due now and unclaimed. The attempt count carries on, so the log keeps numbering: a
    # delivery that died having used up its attempts gets one more try, then is dead again.
    return {
        "status": DeliveryStatus.PENDING.value,
        "next_attempt_at": now,
        "claimed_by": None,
        "claimed_until": None,
    }


async def replay(session: AsyncSession, delivery_id: int, now: datetime) -> LoggedDelivery:
    """Send a dead delivery again, with the same content (and webhook-id) as before."""
    revived = await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.DEAD.value)
        .values(**_revive(now))
    )
    if revived.rowcount != 1:  # type: ignore[attr-defined]
        current = await get_delivery(session, delivery_id)  # NotFound if there is none
        raise Conflict(
            f"Delivery {delivery_id} is {current.delivery.status}, not dead; only dead "
            "deliveries can be replayed.",
            delivery_id=delivery_id,
            delivery_status=current.delivery.status,
        )
    return await get_delivery(session, delivery_id)


async def replay_dead(session: AsyncSession, now: datetime) -> int:
    """Send every dead delivery again; how many were revived."""
    revived = await session.execute(
        update(Delivery).where(Delivery.status == DeliveryStatus.DEAD.value).values(**_revive(now))
    )
    return int(revived.rowcount)  # type: ignore[attr-defined]
