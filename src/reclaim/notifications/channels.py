"""How the worker talks to a way of reaching people or systems (e-mail, webhooks).

A channel says who should hear about an outbox message (its recipients, each with the exact
content to send, fixed at fan-out so every retry sends the same thing), and sends one delivery.
Sending happens outside any database transaction; a channel that needs fresh data (a webhook
endpoint's current secrets) reads it through its own read-only sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.notifications.models import Delivery, OutboxMessage


@dataclass(frozen=True, slots=True)
class Recipient:
    # Unique per message and channel: an e-mail address, a webhook endpoint's id.
    target: str
    content: dict[str, Any]
    endpoint_id: int | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """What one attempt came to."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    # Seconds the recipient asked us to wait (HTTP Retry-After); the next try waits at least this.
    retry_after: float | None = None
    # Retrying can't help (a refused address, an endpoint gone): straight to dead.
    give_up: bool = False
    # The endpoint said 410 Gone: stop sending it anything.
    disable_endpoint: bool = False


class Channel(Protocol):
    name: str

    async def recipients(
        self, session: AsyncSession, message: OutboxMessage
    ) -> list[Recipient]: ...

    async def send(self, delivery: Delivery) -> Sent: ...
