from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reclaim.db import Base, BigId, UTCDateTime, json_type
from reclaim.files.models import ReturnPhoto
from reclaim.kit.clock import utcnow
from reclaim.logistics.models import Facility, Shipment
from reclaim.orders.models import Customer, Order, OrderLine


class Return(Base):
    __tablename__ = "returns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The shopper-facing "RMA-…" number; random, so one return's URL reveals no other.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    method: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str] = mapped_column(String(16), default="api")
    status_reason: Mapped[str | None] = mapped_column(Text)
    # The policy it was decided under and what that policy said, in the shopper's words.
    policy_version: Mapped[str | None] = mapped_column(
        ForeignKey("policy_versions.version"), index=True
    )
    decision: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    refund_timing: Mapped[str | None] = mapped_column(String(20))
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    pickup_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pickup_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the portal: one confirmation, however often it is submitted, makes one return.
    client_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # An approved return expires if not handed over by then; the shopper is reminded first.
    handover_by: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when something needs a person (a carrier exception, say) without changing status.
    attention: Mapped[str | None] = mapped_column(Text)
    attention_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(lazy="raise")
    customer: Mapped[Customer] = relationship(lazy="raise")
    facility: Mapped[Facility | None] = relationship(lazy="raise")
    # Loaded with every return, one query per batch: the API shows it wherever it shows a
    # return. Read-only: logistics.shipments opens and closes shipments.
    shipment: Mapped[Shipment | None] = relationship(lazy="selectin", viewonly=True)
    lines: Mapped[list[ReturnLine]] = relationship(
        back_populates="return_", lazy="raise", order_by="ReturnLine.id"
    )
    events: Mapped[list[ReturnEvent]] = relationship(
        back_populates="return_", lazy="raise", order_by="ReturnEvent.id"
    )


class ReturnLine(Base):
    __tablename__ = "return_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "received_quantity >= 0 AND received_quantity <= quantity", name="received_within"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32), index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str] = mapped_column(String(16))
    # For fit reasons: the size the shopper says would have fitted.
    fit_size: Mapped[str | None] = mapped_column(String(32))
    exchange_sku: Mapped[str | None] = mapped_column(String(64))
    opened: Mapped[bool] = mapped_column(default=False)
    received_quantity: Mapped[int] = mapped_column(default=0)
    grade: Mapped[str | None] = mapped_column(String(16))
    disposition: Mapped[str | None] = mapped_column(String(20))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    inspected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispositioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The line's resolution, given once: the units it was given for and what they were worth
    # (refunded, credited or put toward the exchange). Set by a conditional update.
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_quantity: Mapped[int] = mapped_column(default=0)
    settled_minor: Mapped[int] = mapped_column(default=0)

    return_: Mapped[Return] = relationship(back_populates="lines", lazy="raise")
    order_line: Mapped[OrderLine] = relationship(lazy="raise")
    photos: Mapped[list[ReturnPhoto]] = relationship(lazy="raise", order_by="ReturnPhoto.id")


class ReturnEvent(Base):
    """Append-only timeline: the status page, the audit log and analytics read it."""

    __tablename__ = "return_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)

    return_: Mapped[Return] = relationship(back_populates="events", lazy="raise")
