"""What happens to a return at the warehouse: parcels opened, lines inspected and routed,
units entering stock, refurbishment work orders and end-of-life manifests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, BigId, UTCDateTime, json_type
from reclaim.kit.clock import utcnow


class Receipt(Base):
    """One parcel opened at the station: what was counted in it and what it weighed."""

    __tablename__ = "receipts"
    __table_args__ = (
        CheckConstraint("weight_grams IS NULL OR weight_grams >= 0", name="weight_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    # {line_ref: units counted} for this parcel.
    lines: Mapped[dict[str, int]] = mapped_column(json_type(), default=dict)
    weight_grams: Mapped[int | None]
    # What the expected items weigh, from the catalogue, when the parcel was weighed.
    expected_weight_grams: Mapped[int | None]
    actor: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ReceivingFlag(Base):
    """Something at receipt that needs a person: an unexpected, wrong or missing item, or an
    empty box. It puts the return in the exceptions queue until someone resolves it."""

    __tablename__ = "receiving_flags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id", ondelete="CASCADE"))
    # unexpected_item, wrong_item, missing_item, empty_box
    kind: Mapped[str] = mapped_column(String(20), index=True)
    return_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("return_lines.id", ondelete="CASCADE")
    )
    # What was found instead (a scanned SKU or a description) and how many.
    found: Mapped[str | None] = mapped_column(String(200))
    quantity: Mapped[int | None]
    detail: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(Text)


class Inspection(Base):
    """The checklist a line was inspected with, the answers, the grade the rules suggested
    and the grade the inspector gave (with the reason when they differ)."""

    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_line_id: Mapped[int] = mapped_column(
        ForeignKey("return_lines.id", ondelete="CASCADE"), unique=True
    )
    checklist: Mapped[str | None] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    suggested_grade: Mapped[str | None] = mapped_column(String(16))
    # The rules that led to the suggestion, in the merchant's words.
    reasons: Mapped[list[str]] = mapped_column(json_type(), default=list)
    grade: Mapped[str] = mapped_column(String(16))
    override_reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    inspector: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DispositionRecord(Base):
    """Where a line's units were sent, what the engine recommended and why, and the
    recovery expected and (once sold, refurbished or scrapped) realised."""

    __tablename__ = "dispositions"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_line_id: Mapped[int] = mapped_column(
        ForeignKey("return_lines.id", ondelete="CASCADE"), unique=True
    )
    channel: Mapped[str] = mapped_column(String(20), index=True)
    recommended: Mapped[str | None] = mapped_column(String(20))
    override_reason: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # For all units of the line, in minor units: gross recovery, costs, and the difference.
    expected_value_minor: Mapped[int] = mapped_column(default=0)
    expected_cost_minor: Mapped[int] = mapped_column(default=0)
    expected_net_minor: Mapped[int] = mapped_column(default=0)
    realized_value_minor: Mapped[int | None]
    realized_cost_minor: Mapped[int | None]
    # Every channel's expected net value and the engine's reasoning, as shown to staff.
    options: Mapped[list[dict[str, Any]]] = mapped_column(json_type(), default=list)
    explanation: Mapped[list[str]] = mapped_column(json_type(), default=list)
    # Where the unit goes next: the bin tag names it.
    location: Mapped[str] = mapped_column(String(64))
    # Set when a batch run assigned it under capacity limits.
    batch: Mapped[str | None] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class InventoryMovement(Base):
    """Append-only stock ledger: units in (+) or out (-) of a location, by SKU and condition.

    Rows are never updated or deleted (the database refuses it); a correction is a new row."""

    __tablename__ = "inventory_movements"
    __table_args__ = (CheckConstraint("quantity <> 0", name="quantity_not_zero"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64), index=True)
    # A grade: the condition the units are stocked in.
    condition: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(String(64), index=True)
    quantity: Mapped[int]
    # restock, open_box, refurbished, transfer, correction
    kind: Mapped[str] = mapped_column(String(20))
    return_line_id: Mapped[int | None] = mapped_column(ForeignKey("return_lines.id"), index=True)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("refurb_work_orders.id"))
    value_minor: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RefurbWorkOrder(Base):
    """Units sent to a refurbishment partner; closed when they come back regraded, or scrapped."""

    __tablename__ = "refurb_work_orders"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("cost_minor IS NULL OR cost_minor >= 0", name="cost_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    return_line_id: Mapped[int] = mapped_column(
        ForeignKey("return_lines.id", ondelete="CASCADE"), unique=True
    )
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    quantity: Mapped[int]
    # sent, returned, scrapped
    status: Mapped[str] = mapped_column(String(16), index=True)
    grade_in: Mapped[str] = mapped_column(String(16))
    grade_out: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    expected_cost_minor: Mapped[int] = mapped_column(default=0)
    expected_recovery_minor: Mapped[int] = mapped_column(default=0)
    cost_minor: Mapped[int | None]
    recovery_minor: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(Text)
    sent_by: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Manifest(Base):
    """A consignment to a recycler, a charity or a disposal site, with what it weighs."""

    __tablename__ = "manifests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    # recycle, donate, dispose
    kind: Mapped[str] = mapped_column(String(16), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    # open (units are added), shipped (handed over; nothing more is added)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    shipped_by: Mapped[str | None] = mapped_column(String(64))


class ManifestItem(Base):
    __tablename__ = "manifest_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("weight_grams >= 0", name="weight_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), index=True
    )
    return_line_id: Mapped[int | None] = mapped_column(ForeignKey("return_lines.id"), unique=True)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("refurb_work_orders.id"))
    sku: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]
    weight_grams: Mapped[int]
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
