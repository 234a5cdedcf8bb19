"""Writing to the outbox, in the transaction of the change it reports; a worker delivers it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.notifications.models import OutboxMessage


def enqueue(
    session: AsyncSession, topic: str, aggregate: str, payload: dict[str, Any], at: datetime
) -> OutboxMessage:
    message = OutboxMessage(topic=topic, aggregate=aggregate, payload=payload, created_at=at)
    session.add(message)
    return message
