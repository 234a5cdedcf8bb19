from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, BigId, UTCDateTime, json_type
from reclaim.kit.clock import utcnow


class OutboxMessage(Base):
    """A fact to tell the world, written in the same transaction as the change it reports.

    The worker fans each message out into one :class:`Delivery` per recipient (an e-mail
    address, a webhook endpoint) and then sets ``dispatched_at``.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    aggregate: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(json_type())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # A message that could not be fanned out (a template error, say) waits until then and
    # is tried again, so it never holds up the messages behind it.
    fanout_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fanout_error: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """One message to one recipient over one channel, retried on its own until it lands.

    ``status`` is ``pending`` (due at ``next_attempt_at``), ``delivered`` or ``dead`` (gave up;
    ``reclaim outbox replay`` sends it again). A worker owns a claimed row until
    ``claimed_until``; after that another worker may take it over.
    """

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("outbox_id", "channel", "target"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # An e-mail address, or a webhook endpoint's id.
    target: Mapped[str] = mapped_column(String(320))
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    # What is sent, fixed when the message fans out, so every retry sends the same thing.
    content: Mapped[dict[str, Any]] = mapped_column(json_type())
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryAttempt(Base):
    """Every try, successful or not: the delivery log."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(default=0)
    worker: Mapped[str] = mapped_column(String(64))


class WebhookEndpoint(Base):
    """Where the shop wants to hear about events, with the secret its payloads are signed by.

    After a rotation the previous secret also signs until ``previous_secret_until``, so the
    receiver can switch over without dropping a message.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(200))
    # Topics ("return.approved") or "*" for every event.
    event_types: Mapped[list[str]] = mapped_column(json_type(), default=list)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
