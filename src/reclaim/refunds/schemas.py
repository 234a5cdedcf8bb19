"""Refunds over the API: asking for one by hand, the shop's confirmation, and how one is shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reclaim.kit.money import MAX_MINOR
from reclaim.orders.schemas import Currency, Strict

Event = Literal["refund.succeeded", "refund.failed"]
RefundStatus = Literal["pending_approval", "requested", "succeeded", "failed", "declined"]
# The ids a shop gives its payments and refunds; the reason is told to staff.
Reference = Annotated[str, Field(min_length=1, max_length=128)]
Why = Annotated[str, Field(min_length=1, max_length=2000)]


class ManualRefundIn(Strict):
    model_config = ConfigDict(populate_by_name=True)

    amount_minor: int = Field(gt=0, le=MAX_MINOR, strict=True, description="In minor units")
    currency: Currency = Field(description="The order's currency")
    kind: Literal["manual", "goodwill"] = Field(
        default="manual",
        description="manual: part of what was paid, by hand; goodwill: a gesture, no return",
    )
    reason: Why = Field(description="Why; kept with the refund for the audit trail")
    return_number: str | None = Field(
        default=None,
        alias="return",
        max_length=32,
        description="The RMA number of a return of this order that the refund is for",
    )


class PaymentOutcomeIn(Strict):
    position: int = Field(ge=1, le=1000, strict=True, description="The payment's position")
    event: Event
    reference: Reference | None = Field(default=None, description="The refund's id at the shop")
    reason: Why | None = Field(default=None, description="Why it failed")


class ConfirmationIn(Strict):
    event: Event = Field(description="What happened; per payment, where payments say otherwise")
    reference: Reference | None = Field(default=None, description="The refund's id at the shop")
    reason: Why | None = Field(default=None, description="Why it failed")
    payments: list[PaymentOutcomeIn] | None = Field(
        default=None,
        max_length=20,
        description="Outcomes of single payments of the refund, by position",
    )


class SettleIn(Strict):
    lines: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="The order line ids to settle; each must be due. Left out: all that are due",
    )


class RefundPartOut(BaseModel):
    position: int
    method: str
    payment_reference: str | None
    last4: str | None
    amount_minor: int
    status: str
    provider_reference: str | None
    failure_reason: str | None
    settled_at: datetime | None


class RefundOut(BaseModel):
    number: str
    order_id: str
    return_number: str | None
    kind: str
    status: RefundStatus
    amount_minor: int
    currency: str
    reason: str | None
    breakdown: dict[str, Any]
    provider: str
    requested_by: str
    approved_by: str | None
    retry_of: str | None = Field(description="The failed refund this one tries again")
    created_at: datetime
    requested_at: datetime | None
    settled_at: datetime | None
    parts: list[RefundPartOut]


class RefundPage(BaseModel):
    items: list[RefundOut]
    next_cursor: str | None


class CreditOut(BaseModel):
    id: int
    kind: str
    amount_minor: int
    currency: str


class ExchangeBriefOut(BaseModel):
    number: str
    status: str
    value_minor: int
    price_minor: int
    difference_minor: int
    currency: str


class SettlementOut(BaseModel):
    lines: list[str] = Field(description="The order line ids settled now")
    refunds: list[RefundOut]
    credit: list[CreditOut]
    exchanges: list[ExchangeBriefOut]
