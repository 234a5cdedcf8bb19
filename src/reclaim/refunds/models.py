"""Money going back: refunds (per payment method), the store-credit ledger, and exchanges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reclaim.db import Base, BigId, UTCDateTime, json_type
from reclaim.kit.clock import utcnow
from reclaim.orders.models import OrderPayment


class Refund(Base):
    """Money back to the shopper's payment methods, as one request to the payment provider.

    ``kind`` says what it pays for: a return's lines (``return``), the positive difference of
    an exchange (``exchange_difference``), an agent's partial or goodwill refund (``manual``,
    ``goodwill``), or another go at one that failed (``retry``)."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    return_id: Mapped[int | None] = mapped_column(ForeignKey("returns.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    # pending_approval → requested → succeeded | failed; pending_approval → declined.
    status: Mapped[str] = mapped_column(String(20), index=True)
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(Text)
    # How the amount was reached, line by line, in words staff and shoppers can check.
    breakdown: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    provider: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    # A failed refund is tried again at most once at a time: the retry names it, uniquely.
    retry_of: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    parts: Mapped[list[RefundPart]] = relationship(
        back_populates="refund", lazy="raise", order_by="RefundPart.id"
    )


class RefundPart(Base):
    """The share of a refund that goes back to one payment method."""

    __tablename__ = "refund_parts"
    __table_args__ = (
        UniqueConstraint("refund_id", "payment_id"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id", ondelete="CASCADE"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("order_payments.id"), index=True)
    amount_minor: Mapped[int]
    # pending (awaiting approval) → requested → succeeded | failed; declined.
    status: Mapped[str] = mapped_column(String(20))
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    refund: Mapped[Refund] = relationship(back_populates="parts", lazy="raise")
    payment: Mapped[OrderPayment] = relationship(lazy="raise")


class CreditAccount(Base):
    """An account of the store-credit ledger: a customer's balance in one currency, or one of
    the merchant's counter-accounts (``merchant:returns``, ``merchant:bonus``,
    ``merchant:sales``, ``merchant:breakage``). ``balance_minor`` is the sum of its postings."""

    __tablename__ = "credit_accounts"
    __table_args__ = (
        # A customer's balance can't go below zero, whatever races the checks above it lose.
        CheckConstraint(
            "customer_id IS NULL OR balance_minor >= 0", name="customer_balance_not_negative"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "customer:<id>:<currency>" or "merchant:<name>:<currency>".
    key: Mapped[str] = mapped_column(String(96), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    balance_minor: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditTransaction(Base):
    """One movement of store credit: ``issue`` (for a return), ``bonus``, ``goodwill``,
    ``spend`` (at the shop's checkout) or ``expire``. Its postings sum to zero.

    Issued credit is a lot: ``remaining_minor`` is what is left of it to spend, and it may
    expire. Spends take from the lots that expire first."""

    __tablename__ = "credit_transactions"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "remaining_minor IS NULL OR (remaining_minor >= 0 AND remaining_minor <= amount_minor)",
            name="remaining_within_amount",
        ),
        # One spend per checkout reference of a customer: a retried spend can't take twice.
        UniqueConstraint("customer_id", "kind", "reference"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    return_id: Mapped[int | None] = mapped_column(ForeignKey("returns.id"), index=True)
    reference: Mapped[str | None] = mapped_column(String(128))
    memo: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    remaining_minor: Mapped[int | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    postings: Mapped[list[CreditPosting]] = relationship(
        back_populates="transaction", lazy="raise", order_by="CreditPosting.id"
    )


class CreditPosting(Base):
    """One side of a transaction: positive adds to the account's balance."""

    __tablename__ = "credit_postings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("credit_transactions.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("credit_accounts.id"), index=True)
    amount_minor: Mapped[int]

    transaction: Mapped[CreditTransaction] = relationship(back_populates="postings", lazy="raise")


class Exchange(Base):
    """A replacement for returned lines: what they were worth toward it, what the new items
    cost, and the difference, refunded (``difference_minor > 0``) or charged (``< 0``)."""

    __tablename__ = "exchanges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    # created → shipped; cancelled when the return it was made for is called off.
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Sent before the original arrived.
    instant: Mapped[bool] = mapped_column(default=False)
    currency: Mapped[str] = mapped_column(String(3))
    value_minor: Mapped[int]
    price_minor: Mapped[int]
    difference_minor: Mapped[int]
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    # [{"line_id", "sku", "name", "quantity", "unit_price_minor"}]
    items: Mapped[list[dict[str, Any]]] = mapped_column(json_type(), default=list)
    carrier: Mapped[str | None] = mapped_column(String(32))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
