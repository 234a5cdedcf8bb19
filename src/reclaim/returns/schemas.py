"""Requests to create and move returns, and how a return is shown."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from reclaim.orders.schemas import Strict
from reclaim.returns.rules import MAX_LINE_QUANTITY
from reclaim.returns.states import Disposition, Grade, Method, Reason, Resolution

Quantity = Field(gt=0, le=MAX_LINE_QUANTITY, strict=True)


class ReturnLineIn(Strict):
    line_id: str = Field(min_length=1, max_length=64, description="The order line's id")
    quantity: int = Quantity
    reason: Reason
    comment: str | None = Field(default=None, max_length=2000)
    resolution: Resolution = Resolution.REFUND


class ReturnIn(Strict):
    order_id: str = Field(min_length=1, max_length=64)
    method: Method = Method.PREPAID_LABEL
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=1000)


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


class ReturnEventOut(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    data: dict[str, Any]


class ReturnOut(BaseModel):
    number: str
    order_id: str
    status: str
    method: Method
    currency: str
    channel: str
    status_reason: str | None
    created_at: datetime
    updated_at: datetime
    lines: list[ReturnLineOut]
    events: list[ReturnEventOut] | None = None


class ReturnPage(BaseModel):
    items: list[ReturnOut]
    next_cursor: str | None
