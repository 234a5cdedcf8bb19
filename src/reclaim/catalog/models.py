from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, BigId, UTCDateTime, json_type
from reclaim.kit.clock import utcnow


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("cost_minor >= 0", name="cost_not_negative"),
        CheckConstraint("weight_grams >= 0", name="weight_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(64), index=True, default="general")
    # Variants of one product (sizes, colours) share a group, which is what an exchange offers.
    product_group: Mapped[str | None] = mapped_column(String(64), index=True)
    price_minor: Mapped[int] = mapped_column(default=0)
    cost_minor: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    weight_grams: Mapped[int] = mapped_column(default=0)
    returnable: Mapped[bool] = mapped_column(default=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
