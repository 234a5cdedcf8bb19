"""Requests to create and move returns, and how a return is shown."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from reclaim.logistics.carriers import ShipmentKind
from reclaim.orders.schemas import Strict
from reclaim.policy.rules import Outcome
from reclaim.policy.schema import RefundTiming
from reclaim.returns.rules import MAX_LINE_QUANTITY
from reclaim.returns.states import Disposition, Grade, Method, Reason, Resolution

Quantity = Field(gt=0, le=MAX_LINE_QUANTITY, strict=True)


class ReturnLineIn(Strict):
    line_id: str = Field(min_length=1, max_length=64, description="The order line's id")
    quantity: int = Quantity
    reason: Reason
    comment: str | None = Field(default=None, max_length=2000)
    resolution: Resolution = Resolution.REFUND
    opened: bool = Field(
        default=False, strict=True, description="Opened or used: restocking fees may apply"
    )
    fit_size: str | None = Field(
        default=None, max_length=32, description="For fit reasons: the size that would have fitted"
    )
    exchange_sku: str | None = Field(
        default=None,
        max_length=64,
        description="For an exchange: the variant wanted instead (same product group)",
    )


class ReturnIn(Strict):
    order_id: str = Field(min_length=1, max_length=64)
    method: Method = Method.PREPAID_LABEL
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=1000)
    facility: str | None = Field(
        default=None,
        max_length=32,
        description="Code of the drop-off point, locker or store, for those methods",
    )
    pickup_start: datetime | None = Field(
        default=None, description="Start of the chosen pickup slot, for scheduled_pickup"
    )


class ReasonIn(Strict):
    reason: str | None = Field(default=None, max_length=2000)


class RejectIn(Strict):
    reason: str = Field(min_length=1, max_length=2000, description="Told to the shopper")


class ApproveIn(Strict):
    returnless: bool = Field(
        default=False,
        strict=True,
        description="Refund without the item coming back (method keep_item)",
    )
    note: str | None = Field(default=None, max_length=2000)


class TransitIn(Strict):
    tracking_number: str | None = Field(default=None, max_length=64)
    carrier: str | None = Field(default=None, max_length=32)


class ResolveIn(Strict):
    note: str = Field(
        min_length=1,
        max_length=2000,
        description="What was done about it (carrier called, parcel found…); kept on the timeline",
    )


class ReceiveLineIn(Strict):
    line_id: str = Field(min_length=1, max_length=64)
    quantity: int = Quantity


class ReceiveIn(Strict):
    lines: list[ReceiveLineIn] = Field(min_length=1, max_length=1000)


class InspectLineIn(Strict):
    line_id: str = Field(min_length=1, max_length=64)
    grade: Grade
    note: str | None = Field(default=None, max_length=2000)


class InspectIn(Strict):
    lines: list[InspectLineIn] = Field(min_length=1, max_length=1000)


class DispositionLineIn(Strict):
    line_id: str = Field(min_length=1, max_length=64)
    disposition: Disposition
    reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Why, when it differs from the channel the disposition engine recommends; "
        "left out, the record says it was set through the API",
    )


class DispositionIn(Strict):
    lines: list[DispositionLineIn] = Field(min_length=1, max_length=1000)


class ReturnLineOut(BaseModel):
    line_id: str
    sku: str
    quantity: int
    reason: Reason
    fault: str
    comment: str | None
    resolution: Resolution
    received_quantity: int
    grade: Grade | None
    disposition: Disposition | None
    opened: bool
    fit_size: str | None
    exchange_sku: str | None


class ExplanationOut(BaseModel):
    code: str = Field(description="Stable, for machines: window, final_sale, timing_at_receipt…")
    text: str = Field(description="In the shopper's words")


class FeeOut(BaseModel):
    kind: str
    amount_minor: int
    text: str


class QuoteLineOut(BaseModel):
    line_id: str
    resolution: Resolution
    paid_minor: int
    fees_minor: int
    bonus_minor: int
    amount_minor: int = Field(description="What the shopper gets for the line")


class QuoteOut(BaseModel):
    """What the return gives back, as quoted when it was decided."""

    currency: str
    paid_minor: int
    refund_minor: int
    store_credit_minor: int
    exchange_minor: int
    bonus_minor: int
    fees: list[FeeOut]
    lines: list[QuoteLineOut]


class DecisionOut(BaseModel):
    """What the returns policy decided when the return was requested, and why."""

    outcome: Outcome
    returnless: bool
    refund_timing: RefundTiming
    explanations: list[ExplanationOut]
    review_reasons: list[str] = Field(description="In staff words: why a person should look")
    quote: QuoteOut | None


class ReturnEventOut(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    data: dict[str, Any]


class ShipmentOut(BaseModel):
    """How the return travels back: its tracking number, where it has got to, and the label
    or QR code the shopper hands over."""

    kind: ShipmentKind = Field(
        description="label: a printed label; qr: a code scanned at a drop-off point, locker or "
        "store; pickup: collected in a booked slot, with a label"
    )
    carrier: str
    tracking_number: str
    stage: str = Field(
        description="The furthest stage its scans have reached: created (no scan yet), accepted, "
        "in_transit, out_for_delivery, delivered"
    )
    created_at: datetime
    first_scan_at: datetime | None = Field(description="First scan: when it was handed over")
    delivered_at: datetime | None = Field(description="Delivered to the returns facility")
    cancelled_at: datetime | None = Field(description="The return was called off: label void")
    pickup_start: datetime | None
    pickup_end: datetime | None
    handover_by: datetime | None = Field(description="Hand it over by then, or the return expires")
    label_url: str | None = Field(
        description="The 4x6 in label with its packing slip (PDF), for label and pickup kinds"
    )
    qr_url: str | None = Field(description="The QR code of the tracking number (PNG)")


class ReturnOut(BaseModel):
    number: str
    order_id: str
    status: str
    method: Method
    currency: str
    channel: str
    status_reason: str | None
    attention: str | None = Field(
        description="Why a person should look (a carrier exception, say), whatever the status; "
        "cleared with POST /returns/{number}/attention/resolve"
    )
    attention_at: datetime | None = Field(description="When it was flagged")
    created_at: datetime
    updated_at: datetime
    policy_version: str | None = Field(description="The policy it was decided under")
    refund_timing: RefundTiming | None
    decision: DecisionOut | None
    facility: str | None = Field(description="Code of the chosen drop-off point, locker or store")
    pickup_start: datetime | None
    pickup_end: datetime | None
    lines: list[ReturnLineOut]
    shipment: ShipmentOut | None = Field(description="None until approved, or when returnless")
    events: list[ReturnEventOut] | None = None


class ReturnPage(BaseModel):
    items: list[ReturnOut]
    next_cursor: str | None
