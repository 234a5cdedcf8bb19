from __future__ import annotations

from sqlalchemy import CheckConstraint, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, BigId, json_type


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
