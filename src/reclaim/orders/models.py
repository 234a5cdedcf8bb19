from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reclaim.catalog.models import Product
from reclaim.db import Base, BigId, UTCDateTime
from reclaim.kit.clock import utcnow


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    tier: Mapped[str] = mapped_column(String(32), default="standard")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("shipping_minor >= 0", name="shipping_not_negative"),
        CheckConstraint("discount_minor >= 0", name="discount_not_negative"),
        # Refunds, store credit (less any bonus) and exchange value together never give back
        # more than the shopper paid: a racing refund that would breach it fails here.
        CheckConstraint(
            "given_back_minor >= 0 AND given_back_minor <= paid_minor",
            name="given_back_within_paid",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The shop's own order number: what shoppers and integrations know the order by.
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipping_minor: Mapped[int] = mapped_column(default=0)
    # Order-level discounts (coupons); line discounts live on the lines.
    discount_minor: Mapped[int] = mapped_column(default=0)
    # Where the order went, and so where a prepaid label's parcel or a pickup starts from.
    ship_line1: Mapped[str | None] = mapped_column(String(128))
    ship_line2: Mapped[str | None] = mapped_column(String(128))
    ship_city: Mapped[str | None] = mapped_column(String(64))
    ship_region: Mapped[str | None] = mapped_column(String(64))
    ship_postcode: Mapped[str | None] = mapped_column(String(16))
    ship_country: Mapped[str | None] = mapped_column(String(2))
    ship_lat: Mapped[float | None] = mapped_column(Float)
    ship_lon: Mapped[float | None] = mapped_column(Float)
    # What the shopper's payments captured, and how much of it has been given back.
    paid_minor: Mapped[int] = mapped_column(default=0)
    given_back_minor: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )

    customer: Mapped[Customer] = relationship(lazy="raise")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", lazy="raise", order_by="OrderLine.id", cascade="all, delete-orphan"
    )
    payments: Mapped[list[OrderPayment]] = relationship(
        back_populates="order",
        lazy="raise",
        order_by="OrderPayment.position",
        cascade="all, delete-orphan",
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_ref"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="unit_price_not_negative"),
        CheckConstraint("discount_minor >= 0", name="discount_not_negative"),
        CheckConstraint("tax_minor >= 0", name="tax_not_negative"),
        # The quantity invariant, held by the database itself: a conditional update that would
        # return more than was bought fails here even if every check above it was raced.
        CheckConstraint(
            "returned_quantity >= 0 AND returned_quantity <= quantity",
            name="returned_within_ordered",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    line_ref: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]
    unit_price_minor: Mapped[int]
    discount_minor: Mapped[int] = mapped_column(default=0)
    tax_minor: Mapped[int] = mapped_column(default=0)
    # Units held by returns that are open or done; released when a return is rejected,
    # cancelled or expires, or when it completes with fewer units received than asked.
    returned_quantity: Mapped[int] = mapped_column(default=0)

    order: Mapped[Order] = relationship(back_populates="lines", lazy="raise")
    product: Mapped[Product] = relationship(lazy="raise")


class OrderPayment(Base):
    """One way the shopper paid (a card, a gift card, …): refunds go back method by method,
    in ``position`` order, and never above what each one captured."""

    __tablename__ = "order_payments"
    __table_args__ = (
        UniqueConstraint("order_id", "position"),
        CheckConstraint("captured_minor >= 0", name="captured_not_negative"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= captured_minor",
            name="refunded_within_captured",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    method: Mapped[str] = mapped_column(String(32))
    # The payment provider's id for the capture, which a refund names.
    reference: Mapped[str | None] = mapped_column(String(128))
    last4: Mapped[str | None] = mapped_column(String(4))
    captured_minor: Mapped[int]
    # Requested or confirmed refunds; a refund that fails gives its amount back.
    refunded_minor: Mapped[int] = mapped_column(default=0)

    order: Mapped[Order] = relationship(back_populates="payments", lazy="raise")
