"""Exchanges as the API shows them, and the shop's word that the replacement shipped."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from reclaim.orders.schemas import WITHOUT_NUL, Strict
from reclaim.refunds.exchanges import Settle, settles_by
from reclaim.refunds.models import Exchange

ExchangeStatus = Literal["created", "shipped", "cancelled"]


class ShippedIn(Strict):
    carrier: str = Field(min_length=1, max_length=32, pattern=WITHOUT_NUL)
    tracking_number: str = Field(min_length=1, max_length=64, pattern=WITHOUT_NUL)


class ExchangeItemOut(BaseModel):
    line_id: str = Field(description="The returned order line it replaces")
    sku: str
    name: str
    quantity: int
    unit_price_minor: int


class ExchangeOut(BaseModel):
    number: str
    return_number: str
    status: ExchangeStatus
    instant: bool = Field(description="Sent before the returned items arrived")
    currency: str
    value_minor: int = Field(description="What the returned lines were worth toward it")
    price_minor: int = Field(description="What the replacement items cost")
    difference_minor: int = Field(description="value − price: > 0 refunded, < 0 charged")
    settle: Settle
    items: list[ExchangeItemOut]
    carrier: str | None
    tracking_number: str | None
    created_at: datetime
    shipped_at: datetime | None


class ExchangePage(BaseModel):
    items: list[ExchangeOut]
    next_cursor: str | None


def exchange_out(exchange: Exchange, return_number: str) -> ExchangeOut:
    return ExchangeOut(
        number=exchange.number,
        return_number=return_number,
        status=exchange.status,  # type: ignore[arg-type]
        instant=exchange.instant,
        currency=exchange.currency,
        value_minor=exchange.value_minor,
        price_minor=exchange.price_minor,
        difference_minor=exchange.difference_minor,
        settle=settles_by(exchange.difference_minor),
        items=[ExchangeItemOut.model_validate(item) for item in exchange.items],
        carrier=exchange.carrier,
        tracking_number=exchange.tracking_number,
        created_at=exchange.created_at,
        shipped_at=exchange.shipped_at,
    )
