from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, BigId, UTCDateTime, json_type
from reclaim.kit.clock import utcnow


class Facility(Base):
    """A place returns go to or through: drop-off points, lockers, stores, warehouses, partners."""

    __tablename__ = "facilities"
    __table_args__ = (
        CheckConstraint("lat IS NULL OR (lat >= -90 AND lat <= 90)", name="lat_range"),
        CheckConstraint("lon IS NULL OR (lon >= -180 AND lon <= 180)", name="lon_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # dropoff, locker, store, warehouse, refurbisher, recycler
    kind: Mapped[str] = mapped_column(String(20), index=True)
    # The return methods a shopper can use here (box_free_dropoff, locker, in_store, …).
    methods: Mapped[list[str]] = mapped_column(json_type(), default=list)
    address: Mapped[str] = mapped_column(Text, default="")
    postcode: Mapped[str | None] = mapped_column(String(16), index=True)
    country: Mapped[str | None] = mapped_column(String(2))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    opening_hours: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)


class Shipment(Base):
    """The return leg of one return: how it travels, its tracking number, label and scans.

    One per return. ``kind`` says what the shopper was given: a printable ``label``, a ``qr``
    code a drop-off point, locker or store scans, or a ``pickup`` booked for a slot.
    """

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(
        ForeignKey("returns.id", ondelete="CASCADE"), unique=True
    )
    carrier: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    tracking_number: Mapped[str] = mapped_column(String(64), unique=True)
    # Keys in file storage, filled the first time the label or QR code is asked for.
    label_key: Mapped[str | None] = mapped_column(String(200))
    qr_key: Mapped[str | None] = mapped_column(String(200))
    pickup_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pickup_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The furthest stage any scan has reached; scans arriving late never move it back.
    stage: Mapped[str] = mapped_column(String(20), default="created")
    first_scan_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrackingEvent(Base):
    """One scan of a shipment as the carrier or drop-off point reported it, in Reclaim's codes."""

    __tablename__ = "tracking_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), index=True
    )
    # The carrier's event id, or a digest of tracking number, code, time and place: a scan
    # reported twice (by the API and a CSV, or a retry) is stored once.
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    code: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    location: Mapped[str | None] = mapped_column(String(200))
    facility_code: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
